/**
 * An animation at display rate: on every animation frame, `frame(phase)` decodes and draws one
 * picture (phase: seconds since the start divided by the period). A frame is asked for only
 * when the previous one has been drawn, so a slow decoder lowers the frame rate instead of
 * piling up work; `framesPerSecond()` says what was drawn.
 */
export class Playback {
  /**
   * @param {(phase: number) => Promise<void>} frame
   * @param {number} periodMs
   */
  constructor(frame, periodMs) {
    this.frame = frame;
    this.periodMs = periodMs;
    this.running = false;
    this.frames = 0;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.frames = 0;
    this.startedAt = performance.now();
    this.stoppedAt = null;
    let busy = false;
    const tick = (now) => {
      if (!this.running) return;
      if (!busy) {
        busy = true;
        this.frame(Math.max(0, now - this.startedAt) / this.periodMs).then(
          () => { busy = false; this.frames += 1; },
          (error) => { busy = false; this.stop(); console.error("latent-explorer: playback stopped", error); },
        );
      }
      this.handle = requestAnimationFrame(tick);
    };
    this.handle = requestAnimationFrame(tick);
  }

  stop() {
    if (!this.running) return;
    this.running = false;
    this.stoppedAt = performance.now();
    cancelAnimationFrame(this.handle);
  }

  framesPerSecond() {
    const end = this.stoppedAt ?? performance.now();
    return this.frames / Math.max(1e-3, (end - this.startedAt) / 1000);
  }
}

/** 0 -> 1 -> 0 over each whole phase: back and forth. */
export function backAndForth(phase) {
  const t = phase % 1;
  return t < 0.5 ? 2 * t : 2 - 2 * t;
}
