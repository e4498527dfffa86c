// File transfer between the page and the program's terminal, as ttyd does
// it: ZMODEM (`sz`/`rz` of lrzsz, through zmodem.js) and trzsz
// (`tsz`/`trz`, through the trzsz package). Both travel inside the ordinary
// terminal bytes of wsbridge.tty.v1: the server does not know about them.
//
// Output is only handed to the protocol libraries when it can start or
// continue a transfer (ZMODEM's ZDLE byte 0x18, trzsz's magic text), so
// ordinary output keeps its fast path straight into xterm.js.
import Zmodem from 'zmodem.js';
import { TrzszFilter } from 'trzsz';

const ZDLE = 0x18;
const TERMINAL_RESTORE = new TextEncoder().encode('\x18\x1b[0m\x1b(B\x0f\r\n');
const CANCEL = new Uint8Array([...Array(8).fill(0x18), ...Array(10).fill(0x08)]);
const TRZSZ_MAGIC = new TextEncoder().encode('::TRZSZ:TRANSFER:');
/** Upload pace: at most this many bytes sent that the server has not yet
 * written to the terminal (it answers "sync" with "synced" once it has);
 * the server drops input beyond 1 MiB that the program has not read. */
export const UPLOAD_WINDOW = 256 * 1024;
/** Upload read size: one slice of the file at a time, never the whole file. */
const UPLOAD_SLICE = 64 * 1024;
/** A download's received chunks are folded into one Blob every this many
 * bytes, so they leave the JS heap (Chromium keeps big blobs outside it). */
const FOLD_BYTES = 8 << 20;
/** The receive window a download announces (ZRINIT's buffer size): sz
 * stops after this many bytes until the page acknowledges them. Without
 * it sz streams the whole file without ever reading its input, so a cancel
 * (the abort sequence) would reach it only at the end of the file, and
 * only TCP would hold back a sender faster than the page. */
export const DOWNLOAD_WINDOW = 0xfff0; // ZRINIT carries 16 bits: ~64 KiB
/** After a cancel, output that still belongs to the transfer is dropped
 * until the program has been quiet this long. */
const DRAIN_QUIET_MS = 300;

function indexOf(hay, needle) {
  outer: for (let i = hay.indexOf(needle[0]); i >= 0 && i <= hay.length - needle.length; i = hay.indexOf(needle[0], i + 1)) {
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Transfers routes the program's output to the terminal or to a transfer,
 * and keyboard input to the program or (while a transfer runs) nowhere.
 */
export class Transfers {
  /**
   * @param {{
   *   write: (bytes: Uint8Array) => void,   // to the terminal, flow-counted
   *   send: (bytes: Uint8Array) => void,    // to the program
   *   sync: (seq: number) => void,          // sends {"type":"sync","seq":seq}
   *   cols: () => number,
   *   ui: {show: (state: object) => void, hide: () => void, save: (blob: Blob, name: string) => void},
   * }} io
   */
  constructor(io) {
    this.io = io;
    this.enabled = false; // from hello: writable and not --no-transfer
    this.zsession = null; // the ZMODEM session running, if any
    this.pickFiles = null; // resolves the ZMODEM upload's file choice
    this.drainUntil = 0; // after a cancel: drop output until quiet
    this.last = null; // {protocol, direction, name, bytes, size, state} for tests
    this.sent = 0; // upload bytes sent
    this.acked = 0; // of those, written to the terminal by the server
    this.lastSync = 0; // this.sent at the last sync
    this.syncs = new Map(); // sync seq -> this.sent when it was sent
    this.seq = 0;
    this.ackWaiter = null; // wakes the upload loop on "synced"
    this.sentry = new Zmodem.Sentry({
      to_terminal: (octets) => this.io.write(Uint8Array.from(octets)),
      sender: (octets) => {
        this.io.send(Uint8Array.from(octets));
        if (this.zsession?.type === 'send') this.track(octets.length);
      },
      on_retract: () => {},
      on_detect: (detection) => this.zmodemDetected(detection),
    });
    this.trzsz = new TrzszFilter({
      writeToTerminal: (data) => this.io.write(typeof data === 'string' ? new TextEncoder().encode(data) : new Uint8Array(data)),
      sendToServer: (data) => this.io.send(typeof data === 'string' ? new TextEncoder().encode(data) : data),
      terminalColumns: io.cols(),
    });
  }

  /** busy: a transfer owns the terminal's bytes. */
  get busy() {
    return this.zsession != null || this.trzsz.isTransferringFiles();
  }

  /** output takes a frame of the program's output. */
  output(bytes) {
    if (this.drainUntil) {
      const now = Date.now();
      if (now < this.drainUntil) {
        this.drainUntil = now + DRAIN_QUIET_MS;
        return;
      }
      this.drainUntil = 0;
    }
    if (!this.enabled) return this.io.write(bytes);
    if (this.trzsz.isTransferringFiles() || (!this.zsession && indexOf(bytes, TRZSZ_MAGIC) >= 0)) {
      this.trzsz.processServerOutput(bytes);
      this.watchTrzsz();
      return;
    }
    if (this.zsession || bytes.indexOf(ZDLE) >= 0) {
      try {
        this.sentry.consume(bytes);
      } catch (e) {
        this.failed(e);
      }
      return;
    }
    this.io.write(bytes);
  }

  /** input takes keyboard input; false when it must not reach the program.
   * Ctrl-C during a transfer cancels it. */
  input(s) {
    if (!this.busy) return true;
    if (s === '\x03') this.cancel();
    return false;
  }

  /** synced: the server has written all input up to sync seq. */
  synced(seq) {
    const mark = this.syncs.get(seq);
    if (mark === undefined) return;
    for (const s of this.syncs.keys()) if (s <= seq) this.syncs.delete(s);
    this.acked = Math.max(this.acked, mark);
    this.ackWaiter?.();
  }

  // sendPaced sends upload bytes, waiting while UPLOAD_WINDOW of them are
  // not yet written to the terminal. False: the session is gone.
  async sendPaced(session, bytes) {
    while (this.sent - this.acked > UPLOAD_WINDOW) {
      await new Promise((r) => {
        this.ackWaiter = r;
        setTimeout(r, 1000); // re-check: the socket may be gone
      });
      this.ackWaiter = null;
      if (this.zsession !== session) return false;
    }
    return true;
  }

  // tracked wraps the sender so every upload byte is counted and followed
  // by a sync.
  track(n) {
    this.sent += n;
    // One sync per 32 KiB, not per ZMODEM subpacket: what is not yet
    // covered is always less than the window.
    if (this.sent - this.lastSync < 32 * 1024) return;
    this.lastSync = this.sent;
    const seq = ++this.seq;
    this.syncs.set(seq, this.sent);
    this.io.sync(seq);
  }

  resize(cols) {
    this.trzsz.setTerminalColumns(cols);
  }

  /** reset forgets a transfer when its connection is gone. */
  reset() {
    this.syncs.clear();
    this.sent = this.acked = this.lastSync = 0;
    if (this.zsession && !this.zsession.aborted()) {
      try {
        this.zsession.abort();
      } catch {}
    }
    this.zsession = null;
    this.pickFiles?.(null);
    this.pickFiles = null;
    if (this.trzsz.isTransferringFiles()) this.trzsz.stopTransferringFiles();
    this.io.ui.hide();
  }

  /** cancel stops the running transfer and leaves the shell usable. */
  cancel() {
    if (this.zsession) {
      const s = this.zsession;
      this.zsession = null;
      this.pickFiles?.(null);
      this.pickFiles = null;
      try {
        s.abort(); // zmodem.js sends 5 CAN and 5 BS
      } catch {}
      // lrzsz's sz, checking its input while it sends, eats one CAN before
      // it reads a header, and then 4 are not an abort: send Forsberg's
      // full 8 CAN (and the BS that erase them from a shell's line).
      this.io.send(CANCEL);
      this.drainUntil = Date.now() + DRAIN_QUIET_MS;
      this.finish('cancelled');
      // A sender in full stream reads its input only as junk; once the
      // bytes already on their way are drained it waits at the end of its
      // window (DOWNLOAD_WINDOW) for our acknowledgement, and that read
      // takes the abort: send it again when the output has gone quiet.
      const quiet = setInterval(() => {
        if (this.drainUntil && Date.now() < this.drainUntil) return;
        clearInterval(quiet);
        this.drainUntil = 0;
        this.io.send(CANCEL);
        // Transfer bytes that reached the terminal may have opened an
        // escape sequence (an OSC or DCS swallows all text until its end):
        // CAN ends any, then the default attributes and character set.
        this.io.write(TERMINAL_RESTORE);
      }, 50);
    } else if (this.trzsz.isTransferringFiles()) {
      this.trzsz.stopTransferringFiles();
      this.finish('cancelled');
    }
  }

  /** upload sends dropped files with trzsz (it starts `trz` itself, as
   * trzsz's own pages do); dataTransfer items are what a drop gives. */
  async upload(items) {
    if (!this.enabled || this.busy) return;
    this.progress({ protocol: 'trzsz', direction: 'upload', name: '', bytes: 0, size: 0, state: 'running' });
    try {
      await this.trzsz.uploadFiles(items);
      this.finish('done');
    } catch (e) {
      this.failed(e);
    }
  }

  // The trzsz filter starts its transfer a moment after the magic text; the
  // panel follows it until it ends.
  watchTrzsz() {
    if (this.trzszTimer) return;
    this.trzszTimer = setInterval(() => {
      if (this.trzsz.isTransferringFiles()) {
        if (this.last?.protocol !== 'trzsz' || this.last.state !== 'running')
          this.progress({ protocol: 'trzsz', direction: '', name: '', bytes: 0, size: 0, state: 'running' });
        return;
      }
      if (this.last?.protocol === 'trzsz' && this.last.state === 'running') this.finish('done');
      clearInterval(this.trzszTimer);
      this.trzszTimer = 0;
    }, 100);
  }

  zmodemDetected(detection) {
    let session;
    try {
      session = detection.confirm();
    } catch (e) {
      return this.failed(e);
    }
    this.zsession = session;
    session.on('session_end', () => {
      if (this.zsession === session) {
        this.zsession = null;
        this.finish(this.last?.state === 'running' ? 'done' : this.last?.state || 'done');
      }
    });
    // "send": the program runs rz and we send; "receive": it runs sz.
    if (session.type === 'send') this.zmodemUpload(session);
    else this.zmodemDownload(session);
  }

  zmodemDownload(session) {
    // zmodem.js always announces an unlimited buffer (0): announce a window
    // instead, with the flags it sends (full duplex, overlapped I/O, 32-bit
    // CRC). _send_ZRINIT is zmodem.js's own (pinned at 0.1.10).
    session._send_ZRINIT = function () {
      this._send_header('ZRINIT', ['CANFDX', 'CANOVIO', 'CANFC32'], DOWNLOAD_WINDOW);
    };
    session.on('offer', (xfer) => {
      const { name, size } = xfer.get_details();
      let folded = new Blob([]);
      let parts = [];
      let partBytes = 0;
      let bytes = 0;
      this.progress({ protocol: 'zmodem', direction: 'download', name, bytes, size: size || 0, state: 'running' });
      xfer.on('input', (payload) => {
        parts.push(new Uint8Array(payload));
        partBytes += payload.length;
        bytes += payload.length;
        if (partBytes >= FOLD_BYTES) {
          folded = new Blob([folded, ...parts]);
          parts = [];
          partBytes = 0;
        }
        this.progress({ ...this.last, bytes });
      });
      xfer
        .accept({ on_input: () => {} })
        .then(() => {
          this.io.ui.save(new Blob([folded, ...parts]), name);
          this.progress({ ...this.last, bytes, state: 'saved' });
        })
        .catch((e) => this.failed(e));
    });
    session.start();
  }

  async zmodemUpload(session) {
    this.progress({ protocol: 'zmodem', direction: 'upload', name: '', bytes: 0, size: 0, state: 'choosing' });
    const files = await new Promise((resolve) => (this.pickFiles = resolve));
    this.pickFiles = null;
    if (this.zsession !== session) return; // cancelled meanwhile
    try {
      for (const file of files || []) {
        const xfer = await session.send_offer({
          name: file.name,
          size: file.size,
          mtime: new Date(file.lastModified),
          files_remaining: 1,
          bytes_remaining: file.size,
        });
        if (!xfer) continue; // the receiver skipped it (it exists)
        this.progress({ protocol: 'zmodem', direction: 'upload', name: file.name, bytes: 0, size: file.size, state: 'running' });
        for (let off = 0; off < file.size; off += UPLOAD_SLICE) {
          // Upload flow control: the file is read slice by slice as the
          // program takes it, never whole.
          if (!(await this.sendPaced(session))) return;
          const piece = new Uint8Array(await file.slice(off, off + UPLOAD_SLICE).arrayBuffer());
          if (this.zsession !== session) return;
          xfer.send(piece);
          this.progress({ ...this.last, bytes: off + piece.length });
        }
        await xfer.end();
      }
      await session.close();
    } catch (e) {
      if (this.zsession === session) this.failed(e);
    }
  }

  /** chosen hands the files of the page's picker to a waiting ZMODEM
   * upload; an empty list or null cancels it. */
  chosen(files) {
    if (!this.pickFiles) return;
    if (!files || !files.length) return this.cancel();
    this.pickFiles([...files]);
  }

  progress(state) {
    this.last = state;
    this.io.ui.show(state);
  }

  finish(state) {
    if (this.last && this.last.state !== 'saved') this.last = { ...this.last, state };
    else if (!this.last) this.last = { state };
    this.io.ui.hide();
  }

  failed(e) {
    console.warn('wsbridge: transfer failed:', e?.message || e);
    if (this.zsession) {
      try {
        this.zsession.abort();
      } catch {}
      this.zsession = null;
      this.drainUntil = Date.now() + DRAIN_QUIET_MS;
    }
    this.finish('failed');
  }
}
