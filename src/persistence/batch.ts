/**
 * Gathers the calls made in one turn of the event loop into one call of `run`, which answers each item in order.
 * Under load many requests reach the same statement in the same turn: one round trip serves them all (a round trip,
 * a socket write and read on each side, is what a short statement mostly costs). Alone, a call waits for no one:
 * its batch of one runs at the end of the turn.
 */
export function batched<I, O>(run: (items: readonly I[]) => Promise<readonly O[]>): (item: I) => Promise<O> {
  let pending: { item: I; resolve: (value: O) => void; reject: (error: unknown) => void }[] = [];
  const flush = () => {
    const batch = pending;
    pending = [];
    run(batch.map(({ item }) => item)).then(
      (results) => {
        for (const [i, { resolve }] of batch.entries()) resolve(results[i]!);
      },
      (error: unknown) => {
        for (const { reject } of batch) reject(error);
      },
    );
  };
  return (item) =>
    new Promise<O>((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push({ item, resolve, reject });
    });
}
