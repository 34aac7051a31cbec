// The server's clock: the server decides when a lot ends, so every countdown runs on its time.
//
// Exports
//   clock.sync() -> Promise<number>   asks GET /api/time and sets the offset (server minus this browser),
//       taking the middle of the round trip; resolves to the offset in ms. Called again every few minutes by
//       start(). A failure keeps the last offset.
//   clock.observe(serverMs)   takes a server time seen elsewhere (the feed's welcome and time frames); used only
//       until sync() has measured a round trip, since a frame's time is older than it looks
//   clock.now() -> number     the server's time now, epoch ms
//   clock.offset -> number    server minus browser, ms
//   clock.start(everyMs = 300000)   syncs now and then periodically; returns the first sync's promise
//   clock.onTick(callback) -> () => void   calls callback(serverNowMs) about four times a second (one shared
//       timer for the page); the returned function stops it

class ServerClock {
  constructor() {
    this.offset = 0;
    this.measured = false;
    this.listeners = new Set();
    this.timer = null;
    this.syncTimer = null;
  }

  now() {
    return Date.now() + this.offset;
  }

  observe(serverMs) {
    if (!this.measured && Number.isFinite(serverMs)) this.offset = serverMs - Date.now();
  }

  async sync() {
    try {
      const sent = Date.now();
      const response = await fetch("/api/time", {credentials: "same-origin", cache: "no-store"});
      const received = Date.now();
      if (!response.ok) return this.offset;
      const body = await response.json();
      this.offset = body.server_ms - Math.round((sent + received) / 2);
      this.measured = true;
    } catch {
      // offline: keep the last offset; the feed's frames still move it until a round trip is measured
    }
    return this.offset;
  }

  start(everyMs = 300000) {
    if (!this.syncTimer) this.syncTimer = setInterval(() => this.sync(), everyMs);
    return this.sync();
  }

  onTick(callback) {
    this.listeners.add(callback);
    if (!this.timer) {
      this.timer = setInterval(() => {
        const now = this.now();
        for (const listener of this.listeners) listener(now);
      }, 250);
    }
    return () => {
      this.listeners.delete(callback);
      if (!this.listeners.size && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }
}

export const clock = new ServerClock();
