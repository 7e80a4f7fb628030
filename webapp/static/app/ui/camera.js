// The device camera: getUserMedia into a <video>, the front/back switch (facingMode), stop, and a frame
// loop that reports frames per second. Every camera started here is stopped when its view is left or the
// page is hidden (stopCameras, from main.js): a camera left running drains a phone's battery and keeps its
// light on.

const running = new Set();

/** Frames per second over the last second of ticks. */
export class FrameRate {
  constructor(windowMs = 1000) {
    this.windowMs = windowMs;
    this.times = [];
  }

  tick(now = performance.now()) {
    this.times.push(now);
    while (this.times.length > 1 && now - this.times[0] > this.windowMs) this.times.shift();
    return this.value;
  }

  get value() {
    if (this.times.length < 2) return 0;
    const span = this.times[this.times.length - 1] - this.times[0];
    return span > 0 ? ((this.times.length - 1) * 1000) / span : 0;
  }

  reset() {
    this.times = [];
  }
}

/** Why the camera cannot start, in words a user can act on. */
function explain(error) {
  const name = error && error.name;
  if (name === "NotAllowedError") {
    return "The camera is blocked for this page: allow it in the browser's site settings, then try again.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return "No camera found on this device.";
  }
  if (name === "NotReadableError") {
    return "The camera is in use by another app: close it, then try again.";
  }
  return `The camera did not start: ${(error && error.message) || error}`;
}

export class Camera {
  /**
   * onFrame(video) is awaited once per frame while the camera runs (the next frame waits for it); an error
   * it throws stops the camera and goes to onError. onStop: the camera stopped (any reason).
   */
  constructor(video, { onFrame = null, onStop = null, onError = null } = {}) {
    this.video = video;
    this.onFrame = onFrame;
    this.onStop = onStop;
    this.onError = onError;
    this.facing = "environment"; // the back camera first: it is the one that looks at things
    this.stream = null;
    this.rate = new FrameRate();
    this.generation = 0; // a stop() or restart ends the loop of the run before it
  }

  static available() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  get active() {
    return this.stream !== null;
  }

  async start(facing = this.facing) {
    if (!Camera.available()) {
      throw new Error("This browser offers no camera to this page (it needs HTTPS or localhost).");
    }
    this.stop();
    this.facing = facing;
    const generation = ++this.generation;
    running.add(this); // stopCameras() during the permission prompt cancels this start too
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: { ideal: facing } },
        audio: false,
      });
    } catch (error) {
      if (generation === this.generation) running.delete(this);
      throw new Error(explain(error));
    }
    if (generation !== this.generation) {
      for (const track of stream.getTracks()) track.stop(); // stopped (view left) while it was starting
      return;
    }
    this.stream = stream;
    this.video.srcObject = stream;
    this.video.muted = true;
    this.video.playsInline = true;
    await this.video.play();
    this.rate.reset();
    this.loop(generation);
  }

  /** Front <-> back (a device with one camera keeps using it: facingMode is only "ideal"). */
  flip() {
    return this.start(this.facing === "user" ? "environment" : "user");
  }

  stop() {
    this.generation += 1;
    running.delete(this);
    if (!this.stream) return;
    for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.video.srcObject = null;
    if (this.onStop) this.onStop();
  }

  /** Resolves at the next decoded video frame (or animation frame where the browser lacks the callback). */
  nextFrame() {
    return new Promise((resolve) => {
      if (this.video.requestVideoFrameCallback) this.video.requestVideoFrameCallback(() => resolve());
      else requestAnimationFrame(() => resolve());
    });
  }

  async loop(generation) {
    while (generation === this.generation && this.stream) {
      await this.nextFrame();
      if (generation !== this.generation || !this.stream || !this.video.videoWidth) continue;
      try {
        if (this.onFrame) await this.onFrame(this.video);
        this.rate.tick();
      } catch (error) {
        this.stop();
        if (this.onError) this.onError(error);
        return;
      }
    }
  }
}

/**
 * The buttons of one camera panel: #PREFIX-start ("Use camera"), #PREFIX-flip, #PREFIX-stop, the
 * #PREFIX-video preview, and data-camera="on"|"off" on #PREFIX-panel. Elements marked data-camera-on show
 * only while the camera runs. Start failures (blocked, no camera) go to onError in plain words.
 */
export class CameraControls {
  constructor(prefix, { onFrame = null, onError = () => {} } = {}) {
    this.prefix = prefix;
    this.panel = document.getElementById(`${prefix}-panel`);
    this.onError = onError;
    this.camera = new Camera(document.getElementById(`${prefix}-video`), {
      onFrame,
      onError,
      onStop: () => this.render(),
    });
    this.button("start", () => this.camera.start());
    this.button("flip", () => this.camera.flip());
    this.button("stop", () => this.camera.stop());
    this.render();
  }

  button(name, action) {
    document.getElementById(`${this.prefix}-${name}`).addEventListener("click", () =>
      Promise.resolve()
        .then(action)
        .catch((error) => this.onError(error))
        .finally(() => this.render()),
    );
  }

  render() {
    const on = this.camera.active;
    this.panel.dataset.camera = on ? "on" : "off";
    this.panel.dataset.facing = this.camera.facing;
    for (const element of this.panel.querySelectorAll("[data-camera-on]")) element.hidden = !on;
    for (const element of this.panel.querySelectorAll("[data-camera-off]")) element.hidden = on;
  }
}

/** Stops every running camera (the view changed, the page went to the background). */
export function stopCameras() {
  for (const camera of [...running]) camera.stop();
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") stopCameras();
});
window.addEventListener("pagehide", stopCameras);
