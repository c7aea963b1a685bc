/** One `kgw <name>` command. `run` returns the process exit code. */
export interface CliCommand {
  name: string;
  /** One line for `kgw help`. */
  summary: string;
  /** Full help for `kgw <name> --help`. */
  usage: string;
  run(args: string[], io: CliIo): Promise<number>;
}

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}
