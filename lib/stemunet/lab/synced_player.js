// The synced player of stemunet.lab.players (like sigsep's trackswitch.js): one transport and one
// playhead over several sources of the same excerpt, exactly one of them audible.
//
// The page holds, per player, a table of sources, each row an <audio> element with its audio
// embedded (what a viewer without scripts plays) and data-peaks (a waveform, int8 min/max pairs).
// This script turns that table into the synced player: every source is decoded into an AudioBuffer
// (Web Audio) and, on play, all of them start together at the same offset, each through its own
// gain; switching the source sets the gains (a 4 ms ramp, no click), so the switch is gapless and
// keeps the playhead. Seeking restarts them all at the new offset. One AudioContext serves the
// page; starting a player pauses every other player and every <audio> element.
(function () {
  "use strict";
  const VERSION = 1;
  const page = (window.stemunetSyncedPlayers = window.stemunetSyncedPlayers || { players: new Set(), context: null });
  if (page.version >= VERSION) return;
  page.version = VERSION;

  const FADE_SECONDS = 0.004; // gain ramp of a switch: avoids a click, far below what one hears as a gap
  const START_LATENCY = 0.03; // sources are scheduled this far ahead, so they all start on the same sample
  const SEEK_SECONDS = 1.0; // left/right arrows
  const STYLE = `
.stemunet-player { margin: 4px 0 8px; max-width: 960px; outline: none; font-size: 13px; }
.stemunet-player:focus-visible { box-shadow: 0 0 0 2px #7aa7d6; }
.stemunet-player .stemunet-transport { display: flex; align-items: center; gap: 10px; margin: 4px 0; flex-wrap: wrap; }
.stemunet-player button.stemunet-play { min-width: 4.5em; padding: 2px 10px; font: inherit; cursor: pointer; }
.stemunet-player .stemunet-time { font-family: monospace; }
.stemunet-player .stemunet-hint { color: #666; font-size: 11px; }
.stemunet-player .stemunet-wave { position: relative; height: 72px; background: #f4f4f4; cursor: pointer; border: 1px solid #ddd; }
.stemunet-player .stemunet-wave.stemunet-pictures { height: 120px; }
.stemunet-player .stemunet-wave canvas, .stemunet-player .stemunet-wave img { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.stemunet-player .stemunet-progress { position: absolute; left: 0; top: 0; bottom: 0; width: 0; background: rgba(31, 119, 180, 0.12); pointer-events: none; }
.stemunet-player .stemunet-playhead { position: absolute; top: 0; bottom: 0; left: 0; width: 2px; margin-left: -1px; background: #d62728; pointer-events: none; }
.stemunet-player table.stemunet-sources { margin-left: 0; }
.stemunet-player table.stemunet-sources td { white-space: nowrap; text-align: left; padding: 0.3em 0.5em; }
.stemunet-player table.stemunet-sources td.stemunet-label { white-space: normal; }
.stemunet-player.stemunet-synced td.stemunet-audio { display: none; }
.stemunet-player.stemunet-synced tr.stemunet-source { cursor: pointer; }
.stemunet-player.stemunet-synced tr.stemunet-source:hover { background: #f0f4fa; }
.stemunet-player tr.stemunet-source.stemunet-active { background: #dde9f7; }
.stemunet-player tr.stemunet-source.stemunet-active td:first-child { box-shadow: inset 3px 0 0 #1f77b4; }
.stemunet-player .stemunet-key { color: #666; font-family: monospace; }
.stemunet-player.stemunet-busy .stemunet-play { opacity: 0.6; }
`;

  function addStyle() {
    if (document.getElementById("stemunet-synced-player-style")) return;
    const style = document.createElement("style");
    style.id = "stemunet-synced-player-style";
    style.textContent = STYLE;
    document.head.appendChild(style);
  }

  function audioContext() {
    if (!page.context) page.context = new (window.AudioContext || window.webkitAudioContext)();
    return page.context;
  }

  function bytesOf(audio) {
    const source = audio.getAttribute("src") || "";
    const text = atob(source.slice(source.indexOf(",") + 1));
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes.buffer;
  }

  function peaksOf(row) {
    const text = atob(row.dataset.peaks || "");
    const values = new Int8Array(text.length);
    for (let i = 0; i < text.length; i++) values[i] = (text.charCodeAt(i) << 24) >> 24;
    return values; // min, max, min, max, ... per column, -127..127 of the loudest source's peak
  }

  function clock(seconds) {
    const whole = Math.max(0, seconds);
    const minutes = Math.floor(whole / 60);
    const rest = (whole - 60 * minutes).toFixed(1).padStart(4, "0");
    return `${minutes}:${rest}`;
  }

  class SyncedPlayer {
    constructor(root) {
      this.root = root;
      this.rows = Array.from(root.querySelectorAll("tr.stemunet-source"));
      this.audios = this.rows.map((row) => row.querySelector("audio"));
      this.images = this.rows.map((row) => row.dataset.image || "");
      this.peaks = this.rows.map(peaksOf);
      this.duration = parseFloat(root.dataset.seconds) || 0;
      this.active = 0;
      this.offset = 0; // the playhead while paused (s)
      this.playing = false;
      this.nodes = [];
      this.buffers = null;
      this.loading = null;
      this.build();
      page.players.add(this);
      this.select(0);
      this.show();
    }

    build() {
      addStyle();
      const root = this.root;
      root.classList.add("stemunet-synced");
      root.tabIndex = 0;
      root.setAttribute("data-lm-suppress-shortcuts", "true"); // JupyterLab leaves these keys to the player
      const transport = document.createElement("div");
      transport.className = "stemunet-transport";
      this.button = document.createElement("button");
      this.button.type = "button";
      this.button.className = "stemunet-play";
      this.button.textContent = "play";
      this.time = document.createElement("span");
      this.time.className = "stemunet-time";
      const hint = document.createElement("span");
      hint.className = "stemunet-hint";
      hint.textContent = "space: play/pause, 1-9 or up/down: source, left/right: seek, click the waveform: seek";
      transport.append(this.button, this.time, hint);
      this.wave = document.createElement("div");
      this.wave.className = "stemunet-wave";
      this.canvas = document.createElement("canvas");
      this.image = document.createElement("img");
      this.image.alt = "";
      this.progress = document.createElement("div");
      this.progress.className = "stemunet-progress";
      this.playhead = document.createElement("div");
      this.playhead.className = "stemunet-playhead";
      this.wave.append(this.canvas, this.image, this.progress, this.playhead);
      if (this.images.some(Boolean)) this.wave.classList.add("stemunet-pictures");
      const table = root.querySelector("table.stemunet-sources");
      root.insertBefore(transport, table);
      root.insertBefore(this.wave, table);
      this.rows.forEach((row, index) => {
        const key = row.querySelector(".stemunet-key");
        if (key && index < 9) key.textContent = `${index + 1}`;
        row.addEventListener("click", (event) => {
          if (event.target.closest("a")) return; // a link opens its file
          this.select(index);
        });
      });
      this.button.addEventListener("click", () => this.toggle());
      this.wave.addEventListener("click", (event) => {
        const box = this.wave.getBoundingClientRect();
        this.seek(((event.clientX - box.left) / box.width) * this.duration);
      });
      root.addEventListener("click", () => root.focus({ preventScroll: true }));
      root.addEventListener("keydown", (event) => this.key(event));
      if (window.ResizeObserver) new ResizeObserver(() => this.draw()).observe(this.wave);
    }

    key(event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const last = this.rows.length - 1;
      if (event.key === " " || event.key === "Spacebar") this.toggle();
      else if (/^[1-9]$/.test(event.key) && Number(event.key) - 1 <= last) this.select(Number(event.key) - 1);
      else if (event.key === "ArrowUp") this.select(Math.max(0, this.active - 1));
      else if (event.key === "ArrowDown") this.select(Math.min(last, this.active + 1));
      else if (event.key === "ArrowLeft") this.seek(this.position() - SEEK_SECONDS);
      else if (event.key === "ArrowRight") this.seek(this.position() + SEEK_SECONDS);
      else return;
      event.preventDefault();
      event.stopPropagation();
    }

    // -- the audio -------------------------------------------------------------------------

    decode() {
      if (!this.loading) {
        const context = audioContext();
        this.root.classList.add("stemunet-busy");
        this.loading = Promise.all(this.audios.map((audio) => context.decodeAudioData(bytesOf(audio)))).then((buffers) => {
          this.buffers = buffers;
          this.root.classList.remove("stemunet-busy");
          return buffers;
        }, (error) => {
          this.loading = null; // a later press tries again
          this.root.classList.remove("stemunet-busy");
          this.time.textContent = `this browser cannot decode the audio (${error && error.message ? error.message : error})`;
          throw error;
        });
      }
      return this.loading;
    }

    position() {
      if (!this.playing) return this.offset;
      const elapsed = audioContext().currentTime - this.startedAt;
      return Math.min(this.duration, Math.max(this.offset, elapsed));
    }

    async play() {
      if (this.playing) return;
      const context = audioContext();
      const resumed = context.resume(); // inside the click or key press that asked for it
      await this.decode();
      await resumed;
      if (this.playing || !this.root.isConnected) return;
      for (const other of page.players) if (other !== this && other.playing) other.pause();
      for (const audio of document.querySelectorAll("audio")) if (!audio.paused) audio.pause();
      this.start(this.offset >= this.duration - 0.01 ? 0 : this.offset);
    }

    start(offset) {
      const context = audioContext();
      const when = context.currentTime + START_LATENCY;
      this.nodes = this.buffers.map((buffer, index) => {
        const source = context.createBufferSource();
        source.buffer = buffer;
        const gain = context.createGain();
        gain.gain.value = index === this.active ? 1 : 0;
        source.connect(gain);
        gain.connect(context.destination);
        source.start(when, Math.min(offset, buffer.duration));
        return { source, gain };
      });
      this.offset = offset;
      this.startedAt = when - offset;
      this.playing = true;
      this.show();
      requestAnimationFrame(() => this.tick());
    }

    stopSources() {
      for (const node of this.nodes) {
        try {
          node.source.stop();
        } catch (error) {
          // never started or already ended
        }
        node.source.disconnect();
        node.gain.disconnect();
      }
      this.nodes = [];
    }

    pause() {
      if (!this.playing) return;
      this.offset = this.position();
      this.playing = false;
      this.stopSources();
      this.show();
    }

    toggle() {
      if (this.playing) this.pause();
      else this.play().catch(() => {}); // said in the player (decode)
    }

    seek(seconds) {
      const target = Math.min(this.duration, Math.max(0, seconds || 0));
      if (this.playing) {
        this.stopSources();
        this.playing = false;
        this.start(target);
      } else {
        this.offset = target;
        this.show();
      }
    }

    select(index) {
      this.active = index;
      if (this.nodes.length) {
        const now = audioContext().currentTime;
        this.nodes.forEach((node, i) => {
          const gain = node.gain.gain;
          gain.cancelScheduledValues(now);
          gain.setValueAtTime(gain.value, now);
          gain.linearRampToValueAtTime(i === index ? 1 : 0, now + FADE_SECONDS);
        });
      }
      this.rows.forEach((row, i) => row.classList.toggle("stemunet-active", i === index));
      this.draw();
    }

    tick() {
      if (!this.root.isConnected) return this.remove(); // its output was cleared: silence it
      if (!this.playing) return;
      if (this.position() >= this.duration) {
        this.pause();
        this.offset = this.duration;
      }
      this.show();
      if (this.playing) requestAnimationFrame(() => this.tick());
    }

    remove() {
      this.playing = false;
      this.stopSources();
      page.players.delete(this);
    }

    // -- what is shown -----------------------------------------------------------------------

    show() {
      const seconds = this.position();
      const share = this.duration > 0 ? Math.min(1, seconds / this.duration) : 0;
      this.playhead.style.left = `${100 * share}%`;
      this.progress.style.width = `${100 * share}%`;
      this.time.textContent = `${clock(seconds)} / ${clock(this.duration)}`;
      this.button.textContent = this.playing ? "pause" : "play";
    }

    draw() {
      const image = this.images[this.active];
      this.image.style.display = image ? "" : "none";
      this.canvas.style.display = image ? "none" : "";
      if (image) {
        if (this.image.getAttribute("src") !== image) this.image.src = image;
        return;
      }
      const ratio = window.devicePixelRatio || 1;
      const width = Math.max(1, Math.round(this.wave.clientWidth * ratio));
      const height = Math.max(1, Math.round(this.wave.clientHeight * ratio));
      this.canvas.width = width;
      this.canvas.height = height;
      const context = this.canvas.getContext("2d");
      context.clearRect(0, 0, width, height);
      const peaks = this.peaks[this.active];
      const columns = peaks.length / 2;
      if (!columns) return;
      context.fillStyle = "#1f77b4";
      const middle = height / 2;
      for (let x = 0; x < width; x++) {
        const column = Math.min(columns - 1, Math.floor((x / width) * columns));
        const low = (peaks[2 * column] / 127) * middle;
        const high = (peaks[2 * column + 1] / 127) * middle;
        context.fillRect(x, middle - high, 1, Math.max(1, high - low));
      }
    }

    state() {
      // What a test reads: the playhead, what plays, and each source's gain as the audio thread has it.
      return {
        seconds: this.position(),
        playing: this.playing,
        active: this.active,
        gains: this.nodes.map((node) => node.gain.gain.value),
        contextState: page.context ? page.context.state : "none",
      };
    }
  }

  page.mount = function (root) {
    if (root && !root.stemunetPlayer) root.stemunetPlayer = new SyncedPlayer(root);
  };
  page.pauseAll = function () {
    for (const player of page.players) player.pause();
  };
  // A plain <audio> element that starts pauses the synced players: one thing plays at a time.
  document.addEventListener("play", (event) => {
    if (event.target && event.target.tagName === "AUDIO") page.pauseAll();
  }, true);
})();
