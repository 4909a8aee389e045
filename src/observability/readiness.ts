/** Whether this process should get traffic (`/readyz`), and why not. */
export interface Readiness {
  readonly ready: boolean;
  readonly reason?: string;
}
