// Podman for the pod tests: a real OCI runtime (runc) running real pods with
// `podman kube play`, in a private configuration and storage that nothing
// shares and the run removes. Images are built here, FROM scratch: no
// registry is reachable. Needs root, podman, runc and catatonit (.ci/run
// installs them from Debian).
import { buildRootfs } from "../image/rootfs.ts";
import {
  IS_ROOT,
  ROOT,
  type TextOutput,
  textOutput,
  TextWaiter,
  within,
  works,
} from "./_helpers.ts";

/** Why pods cannot run here, or "" when they can. */
export const podmanProblem: string = Deno.build.os !== "linux"
  ? "needs Linux"
  : !IS_ROOT
  ? "needs root"
  : !works("podman", ["--version"])
  ? "needs podman"
  : !works("runc", ["--version"])
  ? "needs runc"
  : !works("catatonit", ["--version"])
  ? "needs catatonit (the pod's infra container)"
  : !works("cc", ["--version"])
  ? "needs cc (the image's launcher)"
  : "";

/** The images the pod tests use. */
export const IMAGES = {
  /** The wrapper's image, from `Containerfile`. */
  wrapper: "localhost/wrapper:test",
  /** The wrapper's image plus the test programs: the job and the stand-in sidecar. */
  fixtures: "localhost/wrapper-fixtures:test",
  /** A job's own image without the wrapper: glibc, Deno and the test job. */
  plain: "localhost/plain-job:test",
} as const;

/** The test programs, where the fixtures and plain images hold them. */
export const TEST_DIR = "/test";

/** A container's end, as podman saw it. */
export interface ContainerEnd {
  name: string;
  exitCode: number;
  startedAt: number;
  finishedAt: number;
  /** When it wrote its last line on stdout (ms since the epoch). */
  lastLineAt: number;
  stdout: string;
  stderr: string;
}

/** A private podman: its own configuration, storage and temporary files. */
export class Podman {
  readonly dir: string;
  readonly #env: Record<string, string>;
  #images: Promise<void> | undefined;

  private constructor(dir: string) {
    this.dir = dir;
    this.#env = {
      CONTAINERS_CONF: `${dir}/containers.conf`,
      CONTAINERS_STORAGE_CONF: `${dir}/storage.conf`,
    };
  }

  /** The podman of an existing folder (to remove it). */
  static open(dir: string): Podman {
    return new Podman(dir);
  }

  /** Set up the private configuration (nothing runs yet). */
  static async create(): Promise<Podman> {
    await removeStale();
    const dir = await Deno.makeTempDir({ prefix: PREFIX });
    await Deno.writeTextFile(`${dir}/owner`, String(Deno.pid));
    // podman does not create its tmp_dir; without it conmon writes no exit
    // file, and each exit is seen only after a 20 s timeout.
    await Deno.mkdir(`${dir}/tmp`);
    // Root here cannot raise the rlimits podman asks for by default; crun
    // refuses this hybrid cgroup layout, so runc with cgroupfs. The database,
    // volumes and images live under graphroot (a static_dir of its own
    // makes every exit seen only after conmon's 20 s timeout).
    await Deno.writeTextFile(
      `${dir}/containers.conf`,
      [
        "[containers]",
        "default_ulimits = []",
        'log_driver = "k8s-file"',
        "[engine]",
        'runtime = "runc"',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${dir}/events.log"`,
        `tmp_dir = "${dir}/tmp"`,
        "[network]",
        `network_config_dir = "${dir}/networks"`,
        "",
      ].join("\n"),
    );
    await Deno.writeTextFile(
      `${dir}/storage.conf`,
      `[storage]\ndriver = "overlay"\ngraphroot = "${dir}/root"\nrunroot = "${dir}/run"\n`,
    );
    return new Podman(dir);
  }

  /** Run podman; fails with its stderr unless `allowFailure`. */
  async run(
    args: string[],
    allowFailure = false,
  ): Promise<TextOutput> {
    const result = await textOutput("podman", args, {
      env: this.#env,
      stdin: "null",
    });
    if (result.code !== 0 && !allowFailure) {
      throw new Error(`podman ${args.join(" ")}: ${result.stderr.trim()}`);
    }
    return result;
  }

  /** Build the three images once. */
  images(): Promise<void> {
    return this.#images ??= this.#buildImages();
  }

  async #buildImages(): Promise<void> {
    const context = `${this.dir}/context`;
    await Deno.mkdir(`${context}/dist/image`, { recursive: true });
    const rootfs = `${context}/dist/image/rootfs`;
    await buildRootfs(rootfs);
    await this.run([
      "build",
      "-q",
      "-t",
      IMAGES.wrapper,
      "-f",
      `${ROOT}Containerfile`,
      context,
    ]);
    // The test programs, in the repository's layout (the stand-in imports
    // ../../../plugins/…), and the Deno and libraries of a job's own image.
    const tests = `${this.dir}/tests`;
    await copy(`${ROOT}plugins`, `${tests}/test/plugins`);
    await copy(`${ROOT}mod.ts`, `${tests}/test/mod.ts`);
    for (const sub of ["pod", "e2e", "tls"]) {
      await copy(
        `${ROOT}tests/fixtures/${sub}`,
        `${tests}/test/tests/fixtures/${sub}`,
      );
    }
    await Deno.writeTextFile(
      `${tests}/Containerfile`,
      `FROM ${IMAGES.wrapper}\nCOPY test/ ${TEST_DIR}/\n`,
    );
    await this.run(["build", "-q", "-t", IMAGES.fixtures, tests]);
    for (const lib of ["lib", "lib64"]) {
      await copy(`${rootfs}/${lib}`, `${tests}/${lib}`);
    }
    await copy(`${rootfs}/wrapper-runtime/deno`, `${tests}/usr/bin/deno`);
    await Deno.mkdir(`${tests}/proc`);
    await Deno.writeTextFile(
      `${tests}/Containerfile`,
      "FROM scratch\nCOPY lib/ /lib/\nCOPY lib64/ /lib64/\nCOPY usr/ /usr/\n" +
        `COPY test/ ${TEST_DIR}/\n`,
    );
    await this.run(["build", "-q", "-t", IMAGES.plain, tests]);
  }

  /** Size of an image, in bytes. */
  async imageSize(image: string): Promise<number> {
    const { stdout } = await this.run([
      "image",
      "inspect",
      "--format",
      "{{.Size}}",
      image,
    ]);
    return Number(stdout.trim());
  }

  /** `podman kube play` a Pod; resolves once its containers are started. */
  async play(pod: object): Promise<void> {
    const file = `${this.dir}/pod-${crypto.randomUUID()}.json`;
    await Deno.writeTextFile(file, JSON.stringify(pod));
    // No network but the pod's own loopback, shared by its containers.
    await this.run(["kube", "play", "--network", "none", file]);
  }

  /** Wait for a container to exit; its exit code. */
  async wait(container: string): Promise<number> {
    const { stdout } = await within(
      this.run(["wait", container]),
      `container ${container} to exit`,
      120_000,
    );
    return Number(stdout.trim());
  }

  /** How a container ended, with its output. */
  async end(container: string): Promise<ContainerEnd> {
    const { stdout } = await this.run([
      "inspect",
      "--format",
      "{{.State.ExitCode}} {{.State.StartedAt.UnixNano}} {{.State.FinishedAt.UnixNano}}",
      container,
    ]);
    const [exitCode, started, finished] = stdout.trim().split(" ").map(Number);
    const logs = await this.run(["logs", container]);
    const stamped = await this.run(["logs", "--timestamps", container]);
    const last = stamped.stdout.trimEnd().split("\n").at(-1)!.split(" ")[0]!;
    return {
      name: container,
      exitCode: exitCode!,
      startedAt: started! / 1e6,
      finishedAt: finished! / 1e6,
      lastLineAt: Date.parse(last),
      stdout: logs.stdout,
      stderr: logs.stderr,
    };
  }

  /** Resolves once a container has written `needle` on stdout. */
  async written(container: string, needle: string): Promise<void> {
    const follow = new Deno.Command("podman", {
      args: ["logs", "--follow", container],
      env: this.#env,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    try {
      await new TextWaiter(follow.stdout).until(needle);
    } finally {
      follow.kill();
      await follow.status;
    }
  }

  /** Remove every pod and volume (a test's end). */
  async clean(): Promise<void> {
    await this.run(["pod", "rm", "--all", "--force"], true);
    await this.run(["volume", "prune", "--force"], true);
  }

  /** Remove everything this podman made (at the test module's unload). */
  removeSync(): void {
    new Deno.Command("podman", {
      args: ["system", "reset", "--force"],
      env: this.#env,
      stdout: "null",
      stderr: "null",
    }).outputSync();
    Deno.removeSync(this.dir, { recursive: true });
  }
}

const PREFIX = "wrapper-podman-";

/** Remove what runs that were interrupted left: their owner is gone. */
async function removeStale(): Promise<void> {
  const temp = Deno.env.get("TMPDIR") || "/tmp";
  for await (const entry of Deno.readDir(temp)) {
    if (!entry.name.startsWith(PREFIX)) continue;
    const dir = `${temp}/${entry.name}`;
    const owner = await Deno.readTextFile(`${dir}/owner`).catch(() => "");
    if (owner === "") continue; // still being set up
    const alive = await new Deno.Command("sh", {
      args: ["-c", 'kill -0 "$1" 2>/dev/null', "sh", owner.trim()],
    }).output();
    if (!alive.success) Podman.open(dir).removeSync();
  }
}

/** `cp -R`, keeping modes and links. */
async function copy(from: string, to: string): Promise<void> {
  await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
  const { success, stderr } = await new Deno.Command("cp", {
    args: ["-R", from, to],
  }).output();
  if (!success) throw new Error(new TextDecoder().decode(stderr));
}
