/** Environment variables a test file sets: cleared before each test, put back as they were when the file is done. */
export class ScopedEnv {
  private readonly saved: ReadonlyMap<string, string | undefined>;

  constructor(private readonly keys: readonly string[]) {
    this.saved = new Map(keys.map((key) => [key, process.env[key]]));
  }

  clear(): void {
    for (const key of this.keys) delete process.env[key];
  }

  restore(): void {
    for (const [key, value] of this.saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}
