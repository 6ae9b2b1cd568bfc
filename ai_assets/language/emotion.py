"""Per-segment emotion signals: prosody from the audio and affect from the words, in separate columns.

Ranking wants the moments where a talk comes alive. How something is said (loudness, pitch movement,
pace, pauses, an audience reacting) and what is said (the words' valence and arousal) disagree often
enough (a calm voice reading "this is terrible", a shout with neutral words) that both are kept, and
only `intensity` combines them. Plain NumPy, so it runs wherever the transcript does.
"""

from __future__ import annotations

import re
from itertools import pairwise

import numpy as np

from ai_assets.ingest.audio import SAMPLE_RATE
from ai_assets.speech.audio_profile import FRAME_S, frame_rows, pitch_hz

EMOTIONS = ("joy", "anger", "sadness", "fear", "surprise", "neutral")

FRAME = int(FRAME_S * SAMPLE_RATE)
# A frame is active (part of the sound, not the silence around it) above this level and within this range of the span's
# loudest frame.
SILENCE_DBFS = -60.0
ACTIVE_RANGE_DB = 35.0
# Fewer voiced frames than this (about 0.3 s) give no pitch statistics: percentiles of a handful of frames are noise.
MIN_VOICED_FRAMES = 10
PAUSE_MIN_S = 0.25
# Applause is loud broadband noise without a break: spectral flatness (1 for white noise's flat spectrum, near 0 for
# voiced speech or a tone) of at least APPLAUSE_FLATNESS for APPLAUSE_MIN_S; the score reaches 1 at
# APPLAUSE_FULL_FLATNESS.
APPLAUSE_FLATNESS = 0.3
APPLAUSE_FULL_FLATNESS = 0.45
APPLAUSE_MIN_DBFS = -45.0
APPLAUSE_MIN_S = 1.0
FLATNESS_BAND_HZ = (200.0, 6000.0)
# The prosody features whose z-scores within the video make up arousal_prosody; the logistic's slope.
AROUSAL_FEATURES = ("energy_db", "energy_var_db", "pitch_range_st", "speech_rate_wps")
AROUSAL_SLOPE = 1.5
# intensity = PROSODY_WEIGHT * arousal_prosody + (1 - PROSODY_WEIGHT) * text arousal.
PROSODY_WEIGHT = 0.6

# Text affect. Negated terms flip and soften (NEGATION_FACTOR); modifiers scale the next terms' valence and arousal.
NEGATION_WINDOW = 3
NEGATION_FACTOR = -0.5
MODIFIER_WINDOW = 2
BASE_AROUSAL = 0.2
EXCLAMATION_BOOST, MAX_EXCLAMATIONS = 0.1, 3
CAPS_BOOST = 0.3
# Weight of "no particular emotion" against the emotion votes: one strong word gives its label about 0.65.
NEUTRAL_PRIOR = 0.5

NEGATORS = frozenset("not no never nothing nobody none neither nor cannot without hardly".split())
MODIFIERS = {
    **dict.fromkeys(
        "very really so extremely absolutely totally incredibly super truly deeply highly utterly too".split(), 1.5
    ), **dict.fromkeys("slightly somewhat barely kinda fairly mildly".split(), 0.6),
}

# (emotion or None, valence, arousal, words). None marks evaluative words ("good", "terrible") that carry valence
# but no particular emotion, so they move valence and arousal without voting for a label.
_LEXICON_GROUPS = (
    ("joy", 0.9, 0.75,
        "love adore amazing awesome fantastic wonderful thrilled ecstatic overjoyed delighted magnificent spectacular"),
    ("joy", 0.75, 0.8, "excited exciting yay hooray celebrate triumph fun thrill"),
    ("joy", 0.75, 0.55, "happy glad joy joyful cheerful pleased laugh laughter smile enjoy delight lovely proud"),
    ("joy", 0.6, 0.45,
        "grateful thankful blessed hope hopeful inspire inspiring lucky win winner success successful bliss cheer"),
    ("anger", -0.9, 0.85, "hate furious rage outraged outrageous livid despise loathe"),
    ("anger", -0.7, 0.75, "angry mad disgusting disgusted infuriating idiot stupid hostile insult insulting enraged"),
    ("anger", -0.55, 0.6,
        "annoyed annoying irritated irritating frustrated frustrating unfair ridiculous resent bitter gross offended"),
    ("anger", -0.3, 0.7, "fight argue shout yell blame"),
    ("sadness", -0.8, 0.35,
        "sad depressed depressing miserable heartbroken grief grieve mourn hopeless despair tragic tragedy sorrow"),
    ("sadness", -0.6, 0.5,
        "cry tears hurt pain painful suffer suffering lonely unhappy disappointed disappointing failure"),
    ("sadness", -0.45, 0.3, "regret loss lose fail broken gloomy unfortunate alone death dead die sorry"),
    ("sadness", -0.35, 0.1, "tired exhausted weary"),
    ("fear", -0.8, 0.9, "terrified terrifying horror horrified panic nightmare petrified"),
    ("fear", -0.65, 0.75, "afraid scared fear frightened frightening dread alarming creepy danger dangerous threat"),
    ("fear", -0.45, 0.6,
        "anxious anxiety worried worry nervous tense stress stressful uneasy insecure vulnerable unsafe"),
    ("surprise", 0.5, 0.85, "wow whoa astonishing astonished amazed mindblowing omg"),
    ("surprise", 0.2, 0.8, "surprise surprised surprising unbelievable incredible unexpected stunned startled"),
    ("surprise", -0.3, 0.85, "shocked shocking"),
    ("surprise", 0.0, 0.65, "suddenly sudden crazy"),
    ("neutral", 0.45, 0.1, "calm peaceful relaxed relax serene comfortable soothing gentle"),
    ("neutral", -0.45, 0.1, "bored boring dull tedious"),
    (None, 0.8, 0.55, "excellent brilliant perfect beautiful superb outstanding impressive"),
    (None, 0.6, 0.45, "great best favorite cool powerful"),
    (None, 0.45, 0.3, "good nice better helpful useful valuable interesting easy effective"),
    (None, -0.8, 0.6, "terrible awful horrible worst evil nasty"),
    (None, -0.5, 0.4, "bad worse poor wrong useless ugly"),
    (None, -0.25, 0.45, "risk risky doubt unsure"),
)
LEXICON: dict[str, tuple[str | None, float, float]] = {
    word: (emotion, valence, arousal) for emotion, valence, arousal, words in _LEXICON_GROUPS for word in words.split()
}

# (suffix, whether the stem may have lost a final "e" or doubled its last consonant: lov|ed, stabb|ing)
_SUFFIXES = (("ness", False), ("ing", True), ("est", True), ("ed", True), ("er", True), ("ly", False), ("es", False),
    ("s", False))
_MARKER = re.compile(r"[(\[*]\s*([a-z][a-z ]*?)\s*[)\]*]", re.IGNORECASE)
LAUGHTER_MARKERS = frozenset("laughter laughs laughing laugh chuckles chuckling giggles giggling".split())
APPLAUSE_MARKERS = frozenset("applause applauding clapping claps cheering cheers".split())
_CLAUSE_BREAK = re.compile(r"[.,;:!?]+|\bbut\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def word_forms(word: str) -> list[str]:
    """`word` and the stems its common English inflections may come from, so a lexicon lists base forms only.

    loved -> love, stabbing -> stab, happier -> happy, bitches -> bitch, sadness -> sad; but not wind -> win or
    hats -> hate. Over-generation (killing -> "kil") is harmless: a form only matters when it is a lexicon entry.
    Shared with ai_assets.safety.
    """
    forms = [word]
    for suffix, restore_e in _SUFFIXES:
        stem = word[: -len(suffix)]
        if not word.endswith(suffix) or len(stem) < 2:
            continue
        if (suffix == "es" and not stem.endswith(("s", "x", "z", "ch", "sh", "i"))) or (suffix == "s"
                and stem.endswith("s")):
            continue  # "wines" is wine+s, "class" no plural
        forms.append(stem)
        if restore_e:
            forms += [stem + "e"] + ([stem[:-1]] if stem[-1] == stem[-2] else [])
        if stem[-1] == "i":
            forms.append(stem[:-1] + "y")
    return forms


def _reactions(text: str) -> tuple[bool, bool]:
    """(laughter, applause) as Whisper marks them: "(laughter)", "[APPLAUSE]", "*laughs*"."""
    inside = {w for m in _MARKER.finditer(text) for w in m.group(1).lower().split()}
    return bool(inside & LAUGHTER_MARKERS), bool(inside & APPLAUSE_MARKERS)


def _without_reactions(text: str) -> str:
    """`text` without its laughter/applause markers; other brackets are the speaker's words and stay."""
    reactions = LAUGHTER_MARKERS | APPLAUSE_MARKERS
    return _MARKER.sub(lambda m: " " if set(m.group(1).lower().split()) & reactions else m.group(0), text)


def _is_marker(word: str) -> bool:
    w = word.strip()
    return len(w) > 2 and w[0] in "([*" and w[-1] in ")]*"


def prosody(samples: np.ndarray, start: float, end: float, words: list[dict], text: str | None = None) -> dict:
    """How the span [start, end) is spoken; `words` are its Whisper words, `text` (default: the words) is searched for
    laughter/applause markers. Levels are dBFS of frame RMS; pitch needs MIN_VOICED_FRAMES voiced frames, else None."""
    duration = max(end - start, 0.0)
    a, b = max(int(start * SAMPLE_RATE), 0), max(int(end * SAMPLE_RATE), 0)
    frames = frame_rows(np.asarray(samples[a:b], dtype=np.float64), FRAME)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12) if len(frames) else np.empty(0)
    active = (db >= SILENCE_DBFS) & (db >= db.max() - ACTIVE_RANGE_DB) if len(db) else np.zeros(0, bool)
    f0 = pitch_hz(frames[active]) if active.any() else np.empty(0)
    voiced = f0[~np.isnan(f0)]
    enough = len(voiced) >= MIN_VOICED_FRAMES
    low, high = np.percentile(voiced, [10, 90]) if enough else (None, None)

    spoken = [w for w in words if not _is_marker(w["word"])]
    gaps = [nxt["start"] - prev["end"] for prev, nxt in pairwise(spoken)]
    pauses = [g for g in gaps if g >= PAUSE_MIN_S]
    laughed, applauded = _reactions("".join(w["word"] for w in words) if text is None else text)
    return {
        "energy_db": _round(np.mean(db[active])) if active.any() else None,
        "energy_var_db": _round(np.std(db[active])) if active.any() else None,
        "pitch_mean_hz": _round(np.mean(voiced)) if enough else None,
        "pitch_range_st": _round(12 * np.log2(high / low)) if enough else None,
        "speech_rate_wps": _round(len(spoken) / duration) if duration > 0 else 0.0,
        "pause_share": _round(min(1.0, sum(pauses) / duration)) if duration > 0 else 0.0,
        "longest_pause_s": _round(max(pauses, default=0.0)),
        "laughter": 1.0 if laughed else None,
        "applause": 1.0 if applauded else _applause(frames, db),
    }


def _applause(frames: np.ndarray, db: np.ndarray) -> float:
    """0 unless loud broadband noise lasts APPLAUSE_MIN_S without a break; then how flat its spectrum is."""
    if len(frames) == 0:
        return 0.0
    power = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1)) ** 2
    freqs = np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE)
    band = power[:, (freqs >= FLATNESS_BAND_HZ[0]) & (freqs <= FLATNESS_BAND_HZ[1])] + 1e-12
    flatness = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    noisy = np.concatenate([[False], (flatness >= APPLAUSE_FLATNESS) & (db >= APPLAUSE_MIN_DBFS), [False]])
    edges = np.flatnonzero(np.diff(noisy.astype(np.int8)))
    starts, stops = edges[::2], edges[1::2]
    if len(starts) == 0:
        return 0.0
    longest = int(np.argmax(stops - starts))
    if (stops[longest] - starts[longest]) * FRAME_S < APPLAUSE_MIN_S:
        return 0.0
    return _round(min(1.0, float(np.median(flatness[starts[longest] : stops[longest]])) / APPLAUSE_FULL_FLATNESS))


def text_affect(text: str) -> dict:
    """Valence [-1, 1], arousal [0, 1] and the dominant emotion of `text`, from LEXICON with negation ("not good"),
    intensifiers ("very"), exclamation marks and ALL CAPS. Laughter/applause markers are not the speaker's words."""
    text = _without_reactions(text.replace("\u2019", "'"))
    valences, arousals = [], []
    votes = dict.fromkeys(EMOTIONS, 0.0)
    votes["neutral"] = NEUTRAL_PRIOR
    for clause in _CLAUSE_BREAK.split(text):
        tokens = [t.lower() for t in _WORD.findall(clause)]
        for i, token in enumerate(tokens):
            entry = next((LEXICON[f] for f in word_forms(token) if f in LEXICON), None)
            if entry is None:
                continue
            emotion, valence, arousal = entry
            scale = float(np.prod([MODIFIERS.get(t, 1.0) for t in tokens[max(0, i - MODIFIER_WINDOW) : i]]))
            negated = any(t in NEGATORS or t.endswith("n't") for t in tokens[max(0, i - NEGATION_WINDOW) : i])
            valence = float(np.clip(valence * scale * (NEGATION_FACTOR if negated else 1.0), -1.0, 1.0))
            arousal = min(1.0, arousal * scale)
            valences.append(valence)
            arousals.append(arousal)
            if emotion is not None and not negated:
                votes[emotion] += min(1.0, max(abs(valence), arousal))
    words = [w for w in _WORD.findall(text) if len(w) >= 3]
    caps_share = sum(w.isupper() for w in words) / len(words) if words else 0.0
    arousal = (float(np.mean(arousals)) if arousals else BASE_AROUSAL) + EXCLAMATION_BOOST * min(text.count("!"),
        MAX_EXCLAMATIONS)
    label = max(votes, key=votes.get)
    return {
        "valence": _round(np.mean(valences)) if valences else 0.0,
        "arousal": _round(min(1.0, arousal + CAPS_BOOST * caps_share)),
        "emotion": label,
        "emotion_score": _round(votes[label] / sum(votes.values())),
    }


def segment_emotions(samples: np.ndarray, transcript_rows: list[dict]) -> list[dict]:
    """One row per transcript segment: prosody and text affect, plus arousal_prosody (the segment's prosody relative
    to the whole video's, so a naturally loud speaker is not excited throughout) and intensity (both combined)."""
    rows = []
    for row in transcript_rows:
        rows.append({
            "segment": row["segment"], "start": row["start"], "end": row["end"],
            **prosody(samples, row["start"], row["end"], row.get("words") or [], row["text"]),
            **text_affect(row["text"]),
        })
    z = np.zeros((len(rows), len(AROUSAL_FEATURES)))
    known = np.zeros_like(z, dtype=bool)
    for j, feature in enumerate(AROUSAL_FEATURES):
        values = np.array([np.nan if r[feature] is None else r[feature] for r in rows], dtype=float)
        known[:, j] = ~np.isnan(values)
        spread = np.nanstd(values) if known[:, j].any() else 0.0
        if spread > 1e-9:
            z[:, j] = np.where(known[:, j], (values - np.nanmean(values)) / spread, 0.0)
    for i, r in enumerate(rows):
        mean_z = z[i][known[i]].mean() if known[i].any() else 0.0
        r["arousal_prosody"] = _round(1 / (1 + np.exp(-AROUSAL_SLOPE * mean_z)))
        r["intensity"] = _round(PROSODY_WEIGHT * r["arousal_prosody"] + (1 - PROSODY_WEIGHT) * r["arousal"])
    return rows


def _round(x) -> float:
    return round(float(x), 4)
