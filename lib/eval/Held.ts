/** Keeps one expensive resource (a base model, a dataset…) open while consecutive uses share its key. */
export class Held<T> {
  private key: string | undefined;
  private value: T | undefined;

  constructor(private readonly close: (value: T) => void) {}

  async get(key: string, open: () => Promise<T>): Promise<T> {
    if (this.key !== key || this.value === undefined) {
      this.release();
      this.value = await open();
      this.key = key;
    }
    return this.value;
  }

  release(): void {
    if (this.value !== undefined) this.close(this.value);
    this.value = undefined;
    this.key = undefined;
  }
}
