"""Your face, live: the browser's camera streamed through :class:`ferviz.faces.live.LiveAnalyser`.

streamlit-webrtc carries the video (WebRTC between the browser and this server; frames are
analysed in its worker thread, and frames that arrive while one is analysed are dropped).
ICE runs with no servers (``{"iceServers": []}``): the browser and the server find each other
by their own (host) addresses, which works when the app runs on this machine or the local
network and needs nothing from the internet; streamlit-webrtc's default would ask public STUN
servers (or TURN services, given their credentials in the environment), which this app does not
use. A snapshot freezes the last frame into the page's still-photo analysis (MTCNN, both maps).
"""
from __future__ import annotations

import io
import os
import sys
import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from ferviz.faces.live import LiveAnalyser, draw_message
from ferviz.ui import context, resources

RTC_CONFIGURATION = {"iceServers": []}  # local use: host candidates only, no STUN/TURN
MEDIA = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}, "audio": False}
TRANSLATIONS = {
    "start": "Start",
    "stop": "Stop",
    "device_ask_permission": "Allow the browser to use your camera",
    "device_access_denied": "Camera permission denied: allow the camera for this page "
                            "(the camera icon in the address bar), then press Start again",
    "device_not_available": "No camera found, or another program is using it",
    "media_api_not_available": "This browser gives no camera access here: open the app at "
                               "http://localhost:8501 or over HTTPS",
}
CAMERA_HELP = ("If the camera does not start, the video box names the browser's error: **NotAllowedError** "
               "means the camera permission was denied (allow the camera for this page, e.g. with the camera "
               "icon in the address bar, and press Start again); **NotFoundError** means no camera was found "
               "(or another program is using it). Browsers give pages a camera only on localhost or over "
               "HTTPS.")
STALE_S = 3.0  # no frame for this long: the stream is not running


def import_webrtc():
    """streamlit_webrtc, safe to import after TensorFlow.

    aiortc's pylibsrtp carries its own OpenSSL and exports its symbols; TensorFlow exports
    BoringSSL's under the same names, so a pylibsrtp loaded after TensorFlow binds to those and
    crashes the process (segmentation fault in ``srtp_init``, seen here every time). Loading it
    with RTLD_DEEPBIND makes it use its own."""
    if "pylibsrtp" not in sys.modules and hasattr(os, "RTLD_DEEPBIND"):
        flags = sys.getdlopenflags()
        sys.setdlopenflags(flags | os.RTLD_DEEPBIND)
        try:
            import pylibsrtp  # noqa: F401
        finally:
            sys.setdlopenflags(flags)
    import streamlit_webrtc

    return streamlit_webrtc


@dataclass(frozen=True)
class Snapshot:
    """A frozen frame as PNG bytes, shaped like an uploaded file (`name`, `getvalue()`)."""

    name: str
    data: bytes

    def getvalue(self) -> bytes:
        return self.data


@dataclass
class _Live:
    """One session's analyser and the last error raised in the video thread."""

    analyser: LiveAnalyser
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _live(ctx) -> _Live:
    card = ctx.card
    key = f"_live_{card.compute_key()}"
    live = st.session_state.get(key)
    if live is None:
        try:
            model = resources.model_for(card)
            with st.spinner("Preparing the live analysis (tracing the model) ..."):
                analyser = LiveAnalyser(model, card)
                analyser.warm_up()
        except Exception as e:
            context.show_error(e)
            st.stop()
        live = st.session_state[key] = _Live(analyser)
    return live


def _callback(live: _Live):
    import av

    def on_frame(frame: "av.VideoFrame") -> "av.VideoFrame":
        img = frame.to_ndarray(format="rgb24")
        try:
            with live.lock:
                out, _ = live.analyser.process(img)
            live.error = None
        except Exception as e:  # shown on the frame and under it; the stream goes on
            live.error = f"{type(e).__name__}: {e}"
            out = draw_message(img, f"Analysis failed: {live.error}")
        return av.VideoFrame.from_ndarray(out, format="rgb24")

    return on_frame


@st.fragment(run_every=1.0)
def _status(live: _Live) -> None:
    """The frame rate and what the analyser sees, refreshed every second."""
    if live.error:
        st.error(f"Live analysis failed: {live.error}")
        return
    r = live.analyser.latest
    if r is None or time.perf_counter() - r.time > STALE_S:
        st.caption("Waiting for video: press Start and allow the camera.")
        return
    n = len(r.faces)
    msg = f"**{r.fps:.1f} frames per second** · {n} face{'s' if n != 1 else ''}"
    if r.main is not None:
        top = r.faces[r.main].top(1)[0]
        msg += f" · largest face: {top[0]} ({top[1]:.0%}, smoothed)"
    msg += f" · analysis {1000 * r.timings.get('total', 0.0):.0f} ms a frame"
    st.markdown(msg)
    if r.message:
        st.warning(r.message)


START_NOTE = "Press Start to analyse your camera live; a snapshot gives the full analysis below."
#: hides the start note while the video box shows the browser's camera error (NotFoundError, ...):
#: the component reports no error to the server, so the page's own script looks into its frame
#: (served by this server, so same-origin)
_HIDE_NOTE_ON_ERROR = r"""<script>
(() => {
  const doc = window.parent && window.parent !== window ? window.parent.document : document;
  const check = () => {
    const note = doc.querySelector('.st-key-up_live_start_note');
    if (!note) { return; }
    const frames = [...doc.querySelectorAll('iframe[title*="webrtc"]')];
    const failed = frames.some(f => {
      try { return /\b[A-Z][A-Za-z]*Error\b/.test(f.contentDocument.body.innerText); } catch (e) { return false; }
    });
    note.style.display = failed ? 'none' : '';
  };
  clearInterval(window.__fervizStartNote);
  window.__fervizStartNote = setInterval(check, 500);
  check();
})();
</script>"""


def live_caption(card, *, tta: bool, gradcam: bool) -> str:
    """What the live analysis does with the current settings (the views of the prediction and of
    Grad-CAM)."""
    from ferviz.models.tta import views

    if tta and card.tta:
        pred = f"each frame's prediction averages the card's {len(views(card.tta, 2, 2))} test-time views ({card.tta})"
    else:
        pred = "each frame's prediction from a single view" + (" (test-time views off)" if card.tta else "")
    cam = ("Grad-CAM on the largest face, from a single view (no test-time augmentation, for speed)"
           if gradcam else "Grad-CAM off")
    return (f"{card.name}, live: faces found by OpenCV's Haar cascade; top-3 emotions smoothed over the last "
            f"frames, {pred}; {cam}. Nothing is recorded; take a snapshot for the full still-photo analysis.")


def start_note() -> None:
    """The note saying what to do first, hidden while the video box shows a camera error."""
    with st.container(key="up_live_start_note"):
        st.info(START_NOTE)
    st.html(_HIDE_NOTE_ON_ERROR, unsafe_allow_javascript=True)


def show(ctx) -> Snapshot | None:
    """The live stream with its status; returns the snapshot taken last, or stops the page when none."""
    webrtc = import_webrtc()
    live = _live(ctx)
    caption = st.empty()  # says what the toggles below set
    a, b = st.columns(2)
    live.analyser.gradcam = a.toggle("Grad-CAM on the largest face", value=True, key="up_live_cam")
    if ctx.card.tta:
        live.analyser.tta = b.toggle(f"Average the card's test-time views ({ctx.card.tta}, as for photos; slower)",
                                     value=True, key="up_live_tta")
    caption.caption(live_caption(ctx.card, tta=live.analyser.tta, gradcam=live.analyser.gradcam))
    stream = webrtc.webrtc_streamer(key="up_live", mode=webrtc.WebRtcMode.SENDRECV,
                                    rtc_configuration=RTC_CONFIGURATION, media_stream_constraints=MEDIA,
                                    video_frame_callback=_callback(live), async_processing=True,
                                    translations=TRANSLATIONS)
    if stream.state.playing:
        _status(live)
    else:
        st.caption(CAMERA_HELP)
    if st.button("Snapshot: analyse this frame", key="up_live_snap", icon=":material/photo_camera:"):
        frame = live.analyser.last_frame()
        if frame is None:
            st.warning("No video frame yet: press Start and allow the camera, then take the snapshot.")
        else:
            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(frame).save(buf, "PNG")
            st.session_state["_live_snapshot"] = Snapshot(f"snapshot {time.strftime('%H:%M:%S')}", buf.getvalue())
    shot = st.session_state.get("_live_snapshot")
    if shot is None:
        if not stream.state.playing and not live.error:  # not under an error (the browser's: see start_note)
            start_note()
        st.stop()
    st.caption(f"Below: the {shot.name} (still-photo analysis).")
    return shot
