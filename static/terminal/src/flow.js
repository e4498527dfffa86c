// Flow control between the WebSocket and xterm.js, ttyd-style but counted in
// bytes: xterm.js parses at roughly 5-35 MB/s and stalls the page when
// megabytes are queued, so a fast producer (`yes`, `cat bigfile`) must be
// paused at the server while xterm catches up.
//
// The class is pure (no DOM, no socket) so node's test runner can drive it.

/** Pause the server once this many bytes are written but not yet parsed. */
export const HIGH = 128 * 1024;
/** Resume it once the backlog falls below this many bytes. */
export const LOW = 16 * 1024;

export class FlowControl {
  /**
   * @param {{high?: number, low?: number, onPause: () => void, onResume: () => void}} opts
   */
  constructor({ high = HIGH, low = LOW, onPause, onResume }) {
    if (!(low < high)) throw new RangeError(`low (${low}) must be below high (${high})`);
    this.high = high;
    this.low = low;
    this.onPause = onPause;
    this.onResume = onResume;
    this.pending = 0; // bytes handed to term.write whose callback has not run
    this.paused = false; // whether we told the server to pause
    this.generation = 0;
  }

  /**
   * Records n bytes about to be passed to term.write and returns the
   * callback to pass along with them. Sends pause once when the backlog
   * crosses HIGH.
   * @param {number} n
   * @returns {() => void}
   */
  written(n) {
    const gen = this.generation;
    this.pending += n;
    if (!this.paused && this.pending > this.high) {
      this.paused = true;
      this.onPause();
    }
    let done = false;
    return () => {
      // A callback from before reset() belongs to a closed connection: its
      // bytes were already forgotten. A double call must not count twice.
      if (done || gen !== this.generation) return;
      done = true;
      this.pending -= n;
      if (this.paused && this.pending < this.low) {
        this.paused = false;
        this.onResume();
      }
    };
  }

  /**
   * Forgets the backlog for a new connection: the server side of a new
   * connection starts unpaused, and callbacks of older writes are ignored.
   */
  reset() {
    this.generation++;
    this.pending = 0;
    this.paused = false;
  }
}
