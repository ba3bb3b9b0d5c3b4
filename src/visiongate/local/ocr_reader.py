"""One image in, its text boxes out: PP-OCR detection, orientation and recognition on ONNX Runtime.

The models are the ones the ``rapidocr`` wheel ships (PP-OCRv6 small detection and
recognition, the v2.0 0/180 degree classifier), so nothing is downloaded, ever. RapidOCR
contributes its detection post-processing (``DBPostProcess``); the sessions, crops,
orientation, batching and decoding are ours, because that is where the errors and the time
were (12 pages of PDF manuals at 150 dpi, ``bench/ocr.py``; docs/local-models.md):

- **Orientation.** The classifier saw each line squashed into one 192 x 48 window and called
  a long, perfectly upright line upside down now and then; the line was then read rotated,
  as garbage: most of the "whole lines lost". It now sees up to three 4:1 windows per line,
  and lines of one direction are turned together, by the majority. Tall boxes are turned a
  quarter first; the boxes come back in upright page coordinates, so a page scanned
  sideways or upside down is still read in order.
- **Detection size.** At most 1280 px on the long side: on the 150 dpi pages 2.2% character
  errors against 2.4% at full size (1650 px) and 2.4% at 960 px, which also found fewer words.
- **Recognition width.** Recognition costs time in proportion to the width of the line
  image after it is scaled to the model's 48 px height; a 150 dpi text line is about 25 px
  tall, so each line was stretched twice as wide as it needed. Squeezed to 75% of that
  width, one line per run, it reads better than the 70% in padded batches it replaced
  (2.05% against 2.12% character errors) for less CPU; at 70% alone it dropped letters
  (`fles`, `kees`), at 60% and 50% more.
- **Padding.** A line read with nothing after it lost its last letter now and then, so
  every line gets a little gray after it.
- **Memory reuse.** Without ONNX Runtime's arena every tensor came in fresh pages from the
  kernel: about 2 GB of page faults a page, a third of the CPU time. The arena is on, and
  each session hands back what it holds after every page.
- **Threads.** ONNX Runtime takes one thread per core by default and spins them between
  runs, so one page could take every core of the machine and burn CPU while waiting. Every
  session here gets ``threads`` intra-op threads, no inter-op pool and no spinning.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ModelFiles", "PageReader", "TextBox", "bundled_models"]

_DET_MAX_SIDE = 1280  # larger images are scaled down for detection (not for reading)
_REC_HEIGHT = 48
_REC_SQUEEZE = 0.75
_REC_PAD = 12  # gray after each line, or its last letter goes missing now and then
_CLS_SETTLED = 0.2  # a direction whose mean is this far from 0 or 1 after a batch is settled
_CLS_SHAPE = (48, 192)
_UPSIDE_DOWN = 0.5  # weighted mean probability of 180 degrees that turns a direction over
_TALL_BOX = 1.5  # a box this many typical line heights tall may hold more than one line
_GAP_INK = 0.05  # a row with this little ink (of the box's inkiest row) separates lines
_MIN_BAND = 0.4  # a band of ink this many line heights tall is a line, less is a sliver
_MIN_SCORE = 0.5  # recognitions below this mean confidence are noise, not text


@dataclass(frozen=True, slots=True)
class TextBox:
    """One recognised text region, its corners in upright page coordinates."""

    left: float
    top: float
    right: float
    bottom: float
    text: str
    score: float

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True, slots=True)
class ModelFiles:
    det: Path
    cls: Path
    rec: Path
    name: str


def bundled_models() -> ModelFiles:
    """The ONNX files inside the installed ``rapidocr`` wheel (PP-OCRv6 small)."""
    import rapidocr

    root = Path(rapidocr.__file__).parent / "models"
    return ModelFiles(
        det=root / "PP-OCRv6_det_small.onnx",
        cls=root / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        rec=root / "PP-OCRv6_rec_small.onnx",
        name="PP-OCRv6 small, bundled in the rapidocr wheel",
    )


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # The arena reuses memory from run to run: without it every tensor came in fresh pages
    # from the kernel, about 2 GB of page faults a page and a third of the CPU time. It
    # keeps the peak of every shape it has seen, though (1.7 GB after 36 pages), so the
    # reader has each arena give back what it holds after every page (``_release``). No
    # per-shape memory plans: pages and lines all differ in size.
    options.enable_cpu_mem_arena = True
    options.enable_mem_pattern = False
    # Idle threads that spin burn a core each between runs; a request waiting on the
    # queue should not pay for another's spinning.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class PageReader:
    """Loaded models for one page at a time; :meth:`read` is safe from one thread at a time
    per reader (the engine's slots see to that)."""

    def __init__(self, threads: int, files: ModelFiles | None = None) -> None:
        import cv2
        import onnxruntime as ort
        from rapidocr.ch_ppocr_det.utils import DBPostProcess

        cv2.setNumThreads(threads)  # OpenCV's own pool would otherwise take every core
        self.files = files or bundled_models()
        self.threads = threads
        self._det = _session(self.files.det, threads)
        self._cls = _session(self.files.cls, threads)
        self._rec = _session(self.files.rec, threads)
        meta = self._rec.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ValueError(f"{self.files.rec} carries no character list in its metadata")
        # CTC classes: blank, the model's characters, then the space.
        self._chars = ["", *meta["character"].splitlines(), " "]
        self._post = DBPostProcess(
            thresh=0.3, box_thresh=0.5, unclip_ratio=1.6, use_dilation=True, score_mode="fast"
        )
        self._shrink = ort.RunOptions()
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def read(self, bgr: Any) -> list[TextBox]:
        """The text boxes of one BGR image (uint8, H x W x 3), upright, unordered."""
        try:
            return self._read(bgr)
        finally:
            self._release()
            _give_back_memory()

    def _read(self, bgr: Any) -> list[TextBox]:
        import numpy as np

        bgr = np.ascontiguousarray(bgr)  # OpenCV copies a strided view on every call
        quads = _split_double_lines(bgr, self._detect(bgr))
        if not quads:
            return []
        cut, turned = zip(*(_crop(bgr, quad) for quad in quads), strict=True)
        flipped = self._classify(list(cut), turned)
        crops = [_flip(c) if f else c for c, f in zip(cut, flipped, strict=True)]
        texts = self._recognise(crops)
        height, width = bgr.shape[:2]
        votes = [0, 0, 0, 0]
        for (text, score), turn, flip in zip(texts, turned, flipped, strict=True):
            if score >= _MIN_SCORE:
                votes[(1 if turn else 0) + (2 if flip else 0)] += len(text)
        page_turn = max(range(4), key=votes.__getitem__)
        boxes = []
        for quad, (text, score) in zip(quads, texts, strict=True):
            if score < _MIN_SCORE or not text.strip():
                continue
            xs, ys = _upright(quad, page_turn, width, height)
            boxes.append(TextBox(min(xs), min(ys), max(xs), max(ys), text.strip(), score))
        return boxes

    def _release(self) -> None:
        """Have each session's arena give back what it holds. A run with the shrink option
        frees the regions that are unused when it ends, so each session runs once more, on
        a tiny input, after the page's own tensors are gone (a millisecond or two)."""
        import numpy as np

        tiny = (
            (self._det, (1, 3, 32, 32)),
            (self._cls, (1, 3, *_CLS_SHAPE)),
            (self._rec, (1, 3, _REC_HEIGHT, 16)),
        )
        for session, shape in tiny:
            feed = {session.get_inputs()[0].name: np.zeros(shape, np.float32)}
            session.run(None, feed, self._shrink)

    def _detect(self, bgr: Any) -> list[Any]:
        import cv2
        import numpy as np

        height, width = bgr.shape[:2]
        scale = min(1.0, _DET_MAX_SIDE / max(height, width))
        h32 = max(32, round(height * scale / 32) * 32)
        w32 = max(32, round(width * scale / 32) * 32)
        image = cv2.resize(bgr, (w32, h32)) if (h32, w32) != (height, width) else bgr
        blob = (image.astype(np.float32) * (2 / 255) - 1).transpose(2, 0, 1)[None]
        (pred,) = self._det.run(None, {self._det.get_inputs()[0].name: blob}, self._shrink)
        quads, _scores = self._post(pred, (height, width))
        return [np.asarray(q, dtype=np.float32) for q in quads]

    def _classify(self, crops: list[Any], turned: Sequence[bool]) -> list[bool]:
        """Whether each crop is upside down, decided for all crops of one direction (across
        or down the page) together. The classifier looks at 4:1 windows; a long line
        squashed into one was called upside down with high confidence now and then, so
        each crop is judged on up to three windows of its own and the page on all of them."""
        flip = {}
        for direction in (False, True):
            mine = [crops[i] for i, t in enumerate(turned) if t == direction]
            flip[direction] = bool(mine) and self._upside_down(mine)
        return [flip[t] for t in turned]

    def _upside_down(self, crops: list[Any]) -> bool:
        """Whether the mean probability of 180 degrees over the crops' windows is over
        one half. The longest lines go first, 32 windows a run, and the first run that
        leaves the mean within ``_CLS_SETTLED`` of 0 or 1 decides: on an upright page
        one run, where all windows took five or six."""
        import numpy as np

        windows = [w for c in sorted(crops, key=lambda c: -c.shape[1]) for w in _windows(c)]
        name = self._cls.get_inputs()[0].name
        total = 0.0
        for start in range(0, len(windows), 32):
            (probs,) = self._cls.run(None, {name: np.stack(windows[start : start + 32])})
            total += float(probs[:, 1].sum())
            mean = total / min(len(windows), start + 32)
            if min(mean, 1 - mean) < _CLS_SETTLED:
                break
        return mean > _UPSIDE_DOWN

    def _recognise(self, crops: list[Any]) -> list[tuple[str, float]]:
        """(text, mean confidence) per crop, one line per run. Batches were padded to their
        widest line, and the padding cost time and memory (a batch's class scores alone
        were 90 MB) and changed what the shorter lines read as; one run per line reads each
        line the same wherever it is, for less."""
        name = self._rec.get_inputs()[0].name
        results = []
        for crop in crops:
            width = max(8, math.ceil(_REC_HEIGHT * crop.shape[1] / crop.shape[0] * _REC_SQUEEZE))
            line = _normalise(crop, _REC_HEIGHT, width + _REC_PAD, width)[None]
            (logits,) = self._rec.run(None, {name: line})
            results.append(self._decode(logits[0]))
        return results

    def _decode(self, row: Any) -> tuple[str, float]:
        """Greedy CTC: the best class per step, repeats merged, blanks dropped."""
        import numpy as np

        best = row.argmax(axis=1)
        keep = best != 0
        keep[1:] &= best[1:] != best[:-1]
        if not keep.any():
            return "", 0.0
        probs = row[np.arange(len(best)), best][keep]
        return "".join(self._chars[i] for i in best[keep]), float(probs.mean())


def _windows(crop: Any) -> list[Any]:
    """Up to three windows of the classifier's 4:1 shape along a crop, normalised."""
    h, w = _CLS_SHAPE
    span = max(1, round(crop.shape[0] * w / h))
    count = min(3, max(1, crop.shape[1] // span))
    out = []
    for k in range(count):
        x = (crop.shape[1] - span) * k // max(1, count - 1) if count > 1 else 0
        window = crop[:, x : x + span]
        out.append(_normalise(window, h, w, min(w, math.ceil(h * window.shape[1] / crop.shape[0]))))
    return out


def _split_double_lines(bgr: Any, quads: list[Any]) -> list[Any]:
    """Cut the boxes that hold more than one line down to the lines they hold.

    Now and then the detector draws a box half again as tall as the page's lines: one line
    with the bottom of the line above and the top of the one below, or two lines that nearly
    touch. Read as one, it comes out as garbage. Rows without ink split such a box into bands;
    a band at least 40% of a line tall is a line, read on its own, and slivers of the
    neighbours (read in their own boxes) are dropped. A heading in a larger font is inked all
    the way through: one band, left as it is.
    """
    import numpy as np

    sizes = [_size(q) for q in quads]
    heights = [h for w, h in sizes if w >= 2 * h]
    if len(heights) < 5:
        return quads
    line = float(np.median(heights))
    out = []
    for quad, (width, height) in zip(quads, sizes, strict=True):
        if width < 2 * height or height < _TALL_BOX * line:
            out.append(quad)
            continue
        crop, _turned = _crop(bgr, quad)
        ink = (255 - crop.min(axis=2).astype(np.float32)).sum(axis=1)
        inked = ink > _GAP_INK * ink.max()
        bands, start = [], None
        for row, on in enumerate([*inked.tolist(), False]):
            if on and start is None:
                start = row
            elif not on and start is not None:
                bands.append((start, row))
                start = None
        lines = [(a, b) for a, b in bands if b - a >= _MIN_BAND * line]
        if len(lines) == 1 and len(bands) == 1:
            out.append(quad)
            continue
        pad = 0.25 * line
        for a, b in lines:
            top, bottom = max(0.0, a - pad) / len(ink), min(len(ink), b + pad) / len(ink)
            out.append(
                np.array(
                    [
                        quad[0] + top * (quad[3] - quad[0]),
                        quad[1] + top * (quad[2] - quad[1]),
                        quad[1] + bottom * (quad[2] - quad[1]),
                        quad[0] + bottom * (quad[3] - quad[0]),
                    ],
                    dtype=np.float32,
                )
            )
    return out


def _size(quad: Any) -> tuple[float, float]:
    import numpy as np

    width = max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))
    height = max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))
    return float(width), float(height)


def _give_back_memory() -> None:
    """Return the freed heap to the system. A page's detection needs a few hundred MB for a
    moment; glibc keeps what was freed in its arenas, so without this the process stayed at
    its peak (500 MB after six pages; 176 MB, what loading takes, with it)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc() -> Any:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def _normalise(crop: Any, height: int, padded: int, width: int) -> Any:
    """The crop resized to ``width`` x ``height``, scaled to [-1, 1], padded to ``padded``."""
    import cv2
    import numpy as np

    resized = cv2.resize(crop, (min(width, padded), height)).astype(np.float32)
    out = np.zeros((3, height, padded), dtype=np.float32)
    out[:, :, : resized.shape[1]] = resized.transpose(2, 0, 1) * (2 / 255) - 1
    return out


def _crop(bgr: Any, quad: Any) -> tuple[Any, bool]:
    """The quadrilateral cut out straight (and turned a quarter when it is tall, as text that
    runs down the page is), and whether it was turned."""
    import cv2
    import numpy as np

    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(
        bgr, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if height >= 1.5 * width:
        return np.ascontiguousarray(np.rot90(crop)), True
    return crop, False


def _flip(crop: Any) -> Any:
    import numpy as np

    return np.ascontiguousarray(crop[::-1, ::-1])


def _upright(quad: Any, turn: int, width: int, height: int) -> tuple[list[float], list[float]]:
    """The quad's corners in the frame where the page's text runs left to right.

    ``turn``: 0 upright, 1 text running down (page turned clockwise), 2 upside down,
    3 text running up; the crops were turned counter-clockwise by ``np.rot90``.
    """
    xs = [float(p[0]) for p in quad]
    ys = [float(p[1]) for p in quad]
    if turn == 1:  # undo a clockwise quarter turn
        return ys, [width - x for x in xs]
    if turn == 2:
        return [width - x for x in xs], [height - y for y in ys]
    if turn == 3:
        return [height - y for y in ys], xs
    return xs, ys
