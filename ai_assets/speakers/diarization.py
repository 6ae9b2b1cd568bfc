"""Speaker diarization without Dagster: local segmentation, d-vectors, clustering, turns, and DER.

With the segmentation model (`segmentation.py`), each 10 s window says who speaks when among up to three
local speakers, two at once at most; Resemblyzer d-vectors of each local speaker's clean speech are
clustered across windows, and each frame goes to as many speakers as the windows say speak there, so
overlapping speech gets both voices. Without it (weights missing), the older path runs: d-vectors over the
VAD regions clustered directly, one speaker per frame. Heavy libraries (torch, resemblyzer, librosa,
scipy) are imported only when used.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ai_assets.ingest.audio import SAMPLE_RATE
from ai_assets.speakers.segmentation import FRAME_DURATION_S, FRAME_STEP_S, LocalActivity

# Resemblyzer's mel frames: 25 ms windows every 10 ms.
HOP = SAMPLE_RATE // 100
N_FFT = SAMPLE_RATE * 25 // 1000
# Mel frames computed per librosa call, bounding memory on long files.
MEL_BLOCK_FRAMES = 6000
# Windows per encoder call: LSTM activations grow with the batch, so long files go in pieces.
BATCH = 512
# Resemblyzer was trained on speech normalised up to this level.
TARGET_DBFS = -30.0
# Windows quieter than this (about -80 dBFS) are not amplified further.
MIN_RMS = 1e-4
# Share of a two-way split's gain that one change point must miss for the split to be turn-taking.
INTERLEAVED = 0.33
# Resolution of the frame labels turns are made from.
LABEL_STEP_S = 0.05


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str  # "S1", "S2", ... numbered by first appearance


@dataclass(frozen=True)
class DiarizeParams:
    """The segmented path's defaults were chosen on the ten AMI `trn*` excerpts of ../shared/media/ami-debug-set
    and on single voices (JFK, LibriVox, FLEURS); dev00 and dev01 were held out. The clustering-only path's
    were chosen on AMI dev00 and on single voices and espeak-ng mixes."""

    segment_step_s: float = 2.5  # 10 s segmentation windows start this often
    speech_threshold: float = 0.3  # chance of any speaker that makes a frame speech (far-field voices are faint)
    overlap_threshold: float = 0.3  # chance of two speakers that makes a frame overlapped
    link_threshold: float = 0.25  # cosine distance (average linkage) under which local speakers are one person
    min_clean_s: float = 0.5  # a local speaker with less speech of its own only joins a cluster, never founds one
    piece_s: float = 1.5  # d-vector pieces a local speaker's speech is cut into
    gap_s: float = 0.3  # same-speaker turns this close are joined

    window_s: float = 1.2  # d-vector window for clustering: long enough to identify a voice
    step_s: float = 0.5
    max_speakers: int = 8
    threshold: float = 0.3  # cosine distance between speaker centroids that means two voices outright
    turn_threshold: float = 0.12  # smaller distance that means two voices when they take turns
    min_speaker_s: float = 3.0  # less speech than this (windows x step) is not a speaker of its own
    min_turn_s: float = 0.5  # shorter label runs inside a region go to a neighbour
    merge_gap_s: float = 0.5  # same-speaker turns this close are joined
    reseg_window_s: float = 0.6  # shorter windows for placing speaker changes precisely
    reseg_step_s: float = 0.15

    @classmethod
    def for_embedding(cls, name: str) -> DiarizeParams:
        """Defaults for a speaker embedding: CAM++ vectors spread wider, so they link at a larger distance
        (0.6, chosen on the same trn* excerpts)."""
        return cls(link_threshold=0.6) if name == "campplus" else cls()


class SpeakerEncoder:
    """Loads resemblyzer's VoiceEncoder once (lazily), device 'cpu' by default."""

    name = "resemblyzer"

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from resemblyzer import VoiceEncoder

            self._model = VoiceEncoder(device=self.device, verbose=False).eval()
        return self._model

    def embed(self, samples: np.ndarray, windows: list[tuple[float, float]]) -> np.ndarray:
        """Unit-norm d-vectors (n, 256), one per window, batched by window length (BATCH at a time).

        Mel frames are computed once over each stretch the windows cover, not per window.
        """
        import torch

        if not windows:
            return np.zeros((0, 256), dtype=np.float32)
        bounds = [(int(round(s * 100)), max(int(round(e * 100)), int(round(s * 100)) + 1)) for s, e in windows]
        mel = _mel_for(samples, bounds)
        groups: dict[int, list[int]] = defaultdict(list)
        for i, (a, b) in enumerate(bounds):
            groups[b - a].append(i)
        out = np.zeros((len(windows), 256), dtype=np.float32)
        with torch.inference_mode():
            for same_length in groups.values():
                for k in range(0, len(same_length), BATCH):
                    idx = same_length[k : k + BATCH]
                    batch = np.stack([mel[bounds[i][0] : bounds[i][1]] * _gain(samples, *bounds[i]) ** 2 for i in idx])
                    out[idx] = self.model(torch.from_numpy(batch).to(self.model.device)).cpu().numpy()
        return out


def _gain(samples: np.ndarray, a: int, b: int) -> np.float32:
    """Gain bringing one window to TARGET_DBFS: resemblyzer expects level-normalised speech.

    Per window rather than per file, so a speaker's embedding does not depend on how loud that
    stretch was; the mel spectrogram is a power spectrum, hence the square at the call site.
    """
    piece = samples[a * HOP : b * HOP].astype(np.float64)
    rms = float(np.sqrt(np.mean(piece**2))) if piece.size else 0.0
    return np.float32(10 ** (TARGET_DBFS / 20) / max(rms, MIN_RMS))


def _mel_for(samples: np.ndarray, bounds: list[tuple[int, int]]) -> np.ndarray:
    """Mel frames (frame index -> 40 bins) for the union of frame ranges, as a sparse-filled array.

    Frame i is centred on sample i*HOP, as in librosa with center=True; frames outside `bounds`
    stay zero and are never read.
    """
    import librosa

    # librosa.feature.melspectrogram gives the same numbers through a slow einsum; a matmul is ~50x faster.
    filters = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=40)
    total = max(b for _, b in bounds)
    mel = np.zeros((total, 40), dtype=np.float32)
    spans: list[list[int]] = []
    for a, b in sorted(bounds):
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    padded = np.pad(samples.astype(np.float32), (N_FFT // 2, max(0, total * HOP + N_FFT - len(samples))))
    for a, b in spans:
        for lo in range(a, b, MEL_BLOCK_FRAMES):
            hi = min(lo + MEL_BLOCK_FRAMES, b)
            y = padded[lo * HOP : (hi - 1) * HOP + N_FFT]
            power = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, center=False)) ** 2
            mel[lo:hi] = (power.T @ filters.T)[: hi - lo]
    return mel


def speech_windows(regions: list[tuple[float, float]], window_s: float, step_s: float) -> list[tuple[float, float]]:
    """Windows of `window_s` every `step_s` inside each region; the last one ends at the region's end.

    A region shorter than a window gives one window covering it, so no speech goes unembedded.
    """
    windows = []
    for start, end in regions:
        if end - start <= window_s:
            windows.append((start, end))
            continue
        n = int(np.ceil((end - start - window_s) / step_s))
        windows += [(start + i * step_s, start + i * step_s + window_s) for i in range(n)]
        windows.append((end - window_s, end))
    return windows


def cluster(embeddings: np.ndarray, params: DiarizeParams) -> np.ndarray:
    """Speaker labels 0..k-1 (by first appearance) for time-ordered windows, k found automatically.

    The Ward tree is cut into ever more clusters; clusters too small to be a speaker (often
    windows straddling a change of speaker) are folded into the nearest other one, and a cut is
    kept only while every pair of its clusters is a distinct voice (see `_distinct`).
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    labels = np.zeros(len(embeddings), dtype=int)
    min_windows = max(2, int(np.ceil(params.min_speaker_s / params.step_s)))
    if len(embeddings) < 2 * min_windows:
        return labels
    tree = linkage(embeddings, method="ward")
    for k in range(2, min(3 * params.max_speakers, len(embeddings) // min_windows) + 1):
        candidate = _refine(embeddings, _fold_small(embeddings, fcluster(tree, k, criterion="maxclust") - 1,
            min_windows))
        count = candidate.max() + 1
        if count <= labels.max() + 1:
            continue
        pairs = [(i, j) for i in range(count) for j in range(i + 1, count)]
        if count > params.max_speakers or not all(
            _distinct(embeddings[(candidate == i) | (candidate == j)],
                candidate[(candidate == i) | (candidate == j)] == j, params)
            for i, j in pairs
        ):
            break
        labels = candidate
    return _first_appearance(labels)


def _fold_small(embeddings: np.ndarray, labels: np.ndarray, min_windows: int) -> np.ndarray:
    """Labels 0..m-1 of the clusters with at least `min_windows` windows; the rest join the closest."""
    sizes = np.bincount(labels)
    big = np.flatnonzero(sizes >= min_windows)
    if len(big) == 0:
        return np.zeros(len(labels), dtype=int)
    keep = np.isin(labels, big)
    cents = np.stack([embeddings[labels == b].mean(0) for b in big])
    nearest = (embeddings @ cents.T).argmax(1)
    return np.where(keep, np.searchsorted(big, labels), nearest)


def _refine(embeddings: np.ndarray, labels: np.ndarray, rounds: int = 10) -> np.ndarray:
    """A few rounds of spherical k-means from the tree's clusters, to fix windows Ward misplaced."""
    for _ in range(rounds):
        centroids = _centroids(embeddings, labels)
        new = (embeddings @ centroids.T).argmax(1)
        if (new == labels).all() or len(np.unique(new)) < len(centroids):
            break
        labels = new
    return labels


def _centroids(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    centroids = np.stack([embeddings[labels == k].mean(0) for k in range(labels.max() + 1)])
    return centroids / np.linalg.norm(centroids, axis=1, keepdims=True)


def _spread(embeddings: np.ndarray) -> float:
    """Sum of cosine distances to the (normalised) mean: n - |sum| for unit vectors."""
    return len(embeddings) - float(np.linalg.norm(embeddings.sum(0)))


def _distinct(embeddings: np.ndarray, second: np.ndarray, params: DiarizeParams) -> bool:
    """Whether two clusters (windows in time order, `second` marking one of them) are two voices.

    One voice drifts: its d-vectors change with content, loudness and delivery, so a long take
    split in two can look as different as two far-field speakers. Drift runs one way, though,
    while people take turns. So centroids `params.threshold` apart are two voices outright, and
    pairs at least `params.turn_threshold` apart are two voices when they take turns: a single
    change point must leave at least INTERLEAVED of the clustering's gain unexplained.
    """
    a, b = embeddings[~second], embeddings[second]
    cos = float(a.mean(0) @ b.mean(0) / np.linalg.norm(a.mean(0)) / np.linalg.norm(b.mean(0)))
    if cos <= 1 - params.threshold:
        return True
    if cos > 1 - params.turn_threshold:
        return False
    whole, split = _spread(embeddings), _spread(a) + _spread(b)
    ahead = np.cumsum(embeddings, axis=0)[:-1]
    behind = ahead[-1] + embeddings[-1] - ahead
    one_change = (len(embeddings) - np.linalg.norm(ahead, axis=1) - np.linalg.norm(behind, axis=1)).min()
    return (one_change - split) >= INTERLEAVED * (whole - split)


def _first_appearance(labels: np.ndarray) -> np.ndarray:
    order = {}
    for label in labels:
        order.setdefault(label, len(order))
    return np.array([order[label] for label in labels], dtype=int)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, past-last) indices of each run of True."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def diarize_segmented(samples: np.ndarray, local: LocalActivity, encoder: SpeakerEncoder,
        params: DiarizeParams = DiarizeParams()) -> list[Turn]:
    """Who spoke when, from the segmentation's local speakers (see the module's docstring).

    Local speakers with at least `params.min_clean_s` of speech nobody talks over are clustered (average
    linkage on cosine distance); in each window its local speakers are matched one-to-one to the clusters, so
    two voices heard at once stay two people. Each frame then goes to the speakers with the most activity
    there, as many as the windows count.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.optimize import linear_sum_assignment

    activity = local.activity
    n_windows, n_frames, n_local = activity.shape
    centers = local.frame_times()
    alone = activity.sum(-1) == 1
    owners, strong, pieces, piece_owner = [], [], [], []
    for w in range(n_windows):
        for k in range(n_local):
            mine = activity[w, :, k] > 0
            clean = mine & alone[w]
            is_strong = clean.sum() * FRAME_STEP_S >= params.min_clean_s
            use = clean if is_strong else mine
            if use.sum() * FRAME_STEP_S < 0.2:
                continue
            spans = [(max(0.0, local.starts[w] + centers[a] - FRAME_DURATION_S / 2),
                      min(local.duration, local.starts[w] + centers[b - 1] + FRAME_DURATION_S / 2))
                     for a, b in _runs(use) if (b - a) * FRAME_STEP_S >= 0.1]
            mine_pieces = speech_windows([(a, b) for a, b in spans if b > a], params.piece_s, params.piece_s / 2)
            if not mine_pieces:
                continue
            owners.append((w, k))
            strong.append(is_strong)
            pieces += mine_pieces
            piece_owner += [len(owners) - 1] * len(mine_pieces)
    if not owners:
        return []
    vectors = encoder.embed(samples, pieces)
    piece_owner = np.array(piece_owner)
    lengths = np.array([b - a for a, b in pieces])[:, None]
    embeddings = np.stack([(vectors[piece_owner == i] * lengths[piece_owner == i]).sum(0) for i in range(len(owners))])
    embeddings /= np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-9)
    strong = np.array(strong)
    if not strong.any():
        strong[:] = True
    founders = embeddings[strong]
    labels = np.zeros(len(founders), dtype=int)
    if len(founders) > 1:
        tree = linkage(founders, method="average", metric="cosine")
        labels = fcluster(tree, params.link_threshold, criterion="distance") - 1
        if labels.max() + 1 > params.max_speakers:
            labels = fcluster(tree, params.max_speakers, criterion="maxclust") - 1
    count = labels.max() + 1
    centroids = _centroids(founders, labels)

    total = local.global_frames()
    score = np.zeros((count, total + n_frames))
    seen = np.zeros(total + n_frames)
    index = {owner: i for i, owner in enumerate(owners)}
    for w, offset in enumerate(local.offsets()):
        mine = [k for k in range(n_local) if (w, k) in index]
        if mine:
            similarity = embeddings[[index[(w, k)] for k in mine]] @ centroids.T
            for a, b in zip(*linear_sum_assignment(-similarity), strict=True):
                score[b, offset : offset + n_frames] += activity[w, :, mine[a]]
        seen[offset : offset + n_frames] += 1
    score = score[:, :total] / np.maximum(seen[:total], 1)
    speaking = local.speaker_count()
    ranked = np.argsort(-score, axis=0)
    active = np.zeros((count, total), dtype=bool)
    for place in range(min(count, int(speaking.max(initial=0)))):
        frames = np.flatnonzero(speaking > place)
        who = ranked[place, frames]
        on = score[who, frames] > 0
        active[who[on], frames[on]] = True
    turns = [(a * FRAME_STEP_S, min(local.duration, (b - 1) * FRAME_STEP_S + FRAME_DURATION_S), g)
             for g in range(count) for a, b in _runs(active[g])]
    # Speakers may overlap, so each one's turns are joined on their own.
    return _renumber(sorted(t for g in range(count) for t in _merge([t for t in turns if t[2] == g], params.gap_s)))


def diarize(samples: np.ndarray, regions: list[tuple[float, float]], encoder: SpeakerEncoder,
        params: DiarizeParams = DiarizeParams(), segmentation=None) -> list[Turn]:
    """Who spoke when. With a `segmentation` model (segmentation.SegmentationModel) the segmented path runs
    and finds speech itself; without one, d-vectors over the given speech regions are clustered.

    Long windows are clustered into speakers; short windows, scored against the speakers'
    centroids, then decide who holds each LABEL_STEP_S frame, so changes land within a few
    tenths of a second.
    """
    if segmentation is not None:
        local = segmentation.local_activity(samples, params.segment_step_s, params.speech_threshold,
            params.overlap_threshold)
        return diarize_segmented(samples, local, encoder, params)
    regions = [(s, e) for s, e in regions if e > s]
    if not regions:
        return []
    windows = speech_windows(regions, params.window_s, params.step_s)
    fine = speech_windows(regions, params.reseg_window_s, params.reseg_step_s)
    emb = encoder.embed(samples, windows + fine)  # one pass, so the mel spectrogram is computed once
    coarse = emb[: len(windows)]
    scores = emb[len(windows) :] @ _centroids(coarse, cluster(coarse, params)).T
    turns = []
    for start, end in regions:
        turns += _label_region(start, end, fine, scores, params)
    return _renumber(_merge(turns, params.merge_gap_s))


def _label_region(start, end, windows, scores, params) -> list[tuple[float, float, int]]:
    """Frame labels inside one region from the windows covering each frame, smoothed into runs."""
    n = max(1, int(round((end - start) / LABEL_STEP_S)))
    centers = start + (np.arange(n) + 0.5) * (end - start) / n
    w = np.array(windows)
    inside = np.flatnonzero((w[:, 0] < end) & (w[:, 1] > start))
    covers = (w[inside, 0][None, :] <= centers[:, None]) & (w[inside, 1][None, :] >= centers[:, None])
    labels = (covers.astype(np.float32) @ scores[inside]).argmax(1)
    labels = _absorb_short(labels, max(1, int(round(params.min_turn_s / LABEL_STEP_S))))
    runs, i = [], 0
    edges = start + np.arange(n + 1) * (end - start) / n
    for j in range(1, n + 1):
        if j == n or labels[j] != labels[i]:
            runs.append((float(edges[i]), float(edges[j]), int(labels[i])))
            i = j
    return runs


def _absorb_short(labels: np.ndarray, min_frames: int) -> np.ndarray:
    """Give runs shorter than `min_frames` to a neighbour, shortest runs first."""
    labels = labels.copy()
    while True:
        starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
        lengths = np.diff(np.r_[starts, len(labels)])
        if len(starts) < 2 or lengths.min() >= min_frames:
            return labels
        k = int(lengths.argmin())
        left = lengths[k - 1] if k > 0 else -1
        right = lengths[k + 1] if k + 1 < len(starts) else -1
        neighbour = starts[k - 1] if left >= right else starts[k + 1]
        labels[starts[k] : starts[k] + lengths[k]] = labels[neighbour]


def _merge(turns: list[tuple[float, float, int]], gap: float) -> list[tuple[float, float, int]]:
    """Join consecutive turns of one speaker separated by at most `gap` seconds."""
    merged: list[tuple[float, float, int]] = []
    for start, end, label in sorted(turns):
        if merged and merged[-1][2] == label and start - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end), label)
        else:
            merged.append((start, end, label))
    return merged


def _renumber(turns: list[tuple[float, float, int]]) -> list[Turn]:
    names: dict[int, str] = {}
    for _, _, label in turns:
        names.setdefault(label, f"S{len(names) + 1}")
    return [Turn(round(s, 3), round(e, 3), names[label]) for s, e, label in turns]


def read_rttm(path_or_text: str | Path) -> list[Turn]:
    """SPEAKER lines of an RTTM file (a path, or the text itself) as turns, speaker names kept."""
    text = path_or_text
    one_line = str(path_or_text).strip()
    if isinstance(path_or_text, Path) or (one_line and "\n" not in one_line and not one_line.startswith("SPEAKER")):
        text = Path(path_or_text).read_text()
    turns = []
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            turns.append(Turn(start, round(start + duration, 6), fields[7]))
    return sorted(turns, key=lambda t: (t.start, t.end, t.speaker))


def to_rttm(turns: list[Turn], file_id: str) -> str:
    return "".join(
        f"SPEAKER {file_id} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n" for t in turns
    )


def _activity(turns: list[Turn], speakers: list[str], centers: np.ndarray) -> np.ndarray:
    act = np.zeros((len(speakers), len(centers)), dtype=bool)
    index = {s: i for i, s in enumerate(speakers)}
    for t in turns:
        act[index[t.speaker]] |= (centers >= t.start) & (centers < t.end)
    return act


def der(reference: list[Turn], hypothesis: list[Turn], collar: float = 0.0, uem: tuple[float, float] | None = None,
        step: float = 0.01) -> dict:
    """NIST-style diarization error rate, scored frame by frame every `step` seconds.

    Overlapping speech counts once per speaker on both sides. Hypothesis speakers are mapped
    one-to-one onto reference speakers to maximise the time they share; each frame then costs
    max(Nref, Nhyp) - Ncorrect, split into missed, false alarm and confusion. Frames within
    `collar` seconds of any reference boundary are not scored.
    """
    from scipy.optimize import linear_sum_assignment

    if uem is None:
        uem = (0.0, max([t.end for t in reference + hypothesis], default=0.0))
    n = max(0, int(round((uem[1] - uem[0]) / step)))
    centers = uem[0] + (np.arange(n) + 0.5) * step
    scored = np.ones(n, dtype=bool)
    if collar > 0:
        for t in reference:
            for edge in (t.start, t.end):
                scored &= np.abs(centers - edge) >= collar
    centers = centers[scored]
    ref_names = sorted({t.speaker for t in reference})
    hyp_names = sorted({t.speaker for t in hypothesis})
    ref = _activity(reference, ref_names, centers)
    hyp = _activity(hypothesis, hyp_names, centers)
    shared = hyp.astype(np.float64) @ ref.T.astype(np.float64)
    rows, cols = linear_sum_assignment(-shared) if shared.size else ([], [])
    pairs = [(h, r) for h, r in zip(rows, cols, strict=True) if shared[h, r] > 0]
    n_ref, n_hyp = ref.sum(0), hyp.sum(0)
    correct = sum((hyp[h] & ref[r]).astype(int) for h, r in pairs) if pairs else np.zeros(len(centers), dtype=int)
    missed = float(np.maximum(n_ref - n_hyp, 0).sum() * step)
    false_alarm = float(np.maximum(n_hyp - n_ref, 0).sum() * step)
    confusion = float((np.minimum(n_ref, n_hyp) - correct).sum() * step)
    total = float(n_ref.sum() * step)
    return {
        "der": (missed + false_alarm + confusion) / total if total else float(missed + false_alarm + confusion > 0),
        "missed": missed,
        "false_alarm": false_alarm,
        "confusion": confusion,
        "total": total,
        "mapping": {hyp_names[h]: ref_names[r] for h, r in pairs},
    }


def assign_speakers(words: list[dict], turns: list[Turn], max_gap_s: float = 0.5) -> list[str | None]:
    """A speaker per word: the one overlapping it longest, else the nearest turn within `max_gap_s`."""
    if not turns:
        return [None] * len(words)
    starts = np.array([t.start for t in turns])
    ends = np.array([t.end for t in turns])
    names = [t.speaker for t in turns]
    speakers: list[str | None] = []
    for word in words:
        overlap = np.minimum(ends, word["end"]) - np.maximum(starts, word["start"])
        if overlap.max() > 0:
            totals: dict[str, float] = defaultdict(float)
            for i in np.flatnonzero(overlap > 0):
                totals[names[i]] += overlap[i]
            speakers.append(max(totals, key=totals.get))
            continue
        gaps = np.maximum(starts - word["end"], word["start"] - ends)
        i = int(gaps.argmin())
        speakers.append(names[i] if gaps[i] <= max_gap_s else None)
    return speakers


def overlap_seconds(turns: list[Turn]) -> float:
    """Seconds during which two speakers' turns overlap, counted once per pair."""
    ordered = sorted(turns, key=lambda t: t.start)
    total = 0.0
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.start >= a.end:
                break
            if b.speaker != a.speaker:
                total += min(a.end, b.end) - b.start
    return total


def speaker_stats(turns: list[Turn]) -> dict:
    """How many speakers, each one's speaking time and number of turns, and how long two spoke at once."""
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for t in turns:
        seconds[t.speaker] += t.end - t.start
        counts[t.speaker] += 1
    return {
        "speakers": len(seconds),
        "turns": len(turns),
        "seconds": {s: round(v, 3) for s, v in seconds.items()},
        "turns_per_speaker": dict(counts),
        "overlap_s": round(overlap_seconds(turns), 3),
    }
