"""Model choice as data: versioned policy documents in DuckDB, validated before they are stored.

Each domain (`asr`, `vision`, `embed`, `clip`, `segment`) has a history of versions in the `policies` table of
`metrics.duckdb`. A version is immutable; its identity is the sha256 of its canonical JSON body,
which is also the data version of the matching observable source asset (`asr_policy`, ...), so a
new body makes exactly the dependent partitions stale.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ai_assets.policy.platforms import PLATFORMS
from ai_assets.speech.transcript import HealParams
from ai_assets.speech.vad import VadParams
from ai_assets.storage.locking import retry_while_locked
from ai_assets.storage.tables import SIGNALS

DOMAINS = ("asr", "vision", "embed", "clip", "segment")
COMPLEXITY_CLASSES = ("clean_single", "noisy", "multi_speaker")
LEGACY_CLASS = "noisy_or_multi"  # the one class for both before they were told apart
COMPUTE_TYPES = ("int8", "int8_float32", "int8_float16", "float16", "float32", "bfloat16")
AUTHORS = ("user", "sensor")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VadRule(_Strict):
    threshold: float = Field(0.5, gt=0, lt=1)
    min_speech_duration_ms: int = Field(250, ge=0, le=5000)
    min_silence_duration_ms: int = Field(500, ge=50, le=10_000)
    speech_pad_ms: int = Field(200, ge=0, le=2000)

    def params(self) -> VadParams:
        return VadParams(**self.model_dump())


class AsrRule(_Strict):
    model: str = Field(description="Model for English speech in this class.")
    beam_size: int = Field(ge=1, le=10)
    batch_size: int = Field(ge=1, le=64)
    compute_type: Literal[COMPUTE_TYPES] = "int8"  # type: ignore[valid-type]
    vad: VadRule = VadRule()


class HealRule(_Strict):
    """When a decoded chunk is suspect (a loop, garbage) and how it is decoded again before the checks judge it."""

    max_compression_ratio: float = Field(2.4, gt=1, le=10, description="Text that compresses more than this loops.")
    min_avg_logprob: float = Field(-1.0, ge=-10, le=0, description="Chunks less confident than this are suspect.")
    beam_size: int = Field(5, ge=1, le=10)
    temperatures: tuple[Annotated[float, Field(ge=0, le=1)], ...] = Field(
        (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), min_length=1, max_length=10
    )
    condition_on_previous_text: bool = False

    def params(self) -> HealParams:
        return HealParams(**self.model_dump())


class AsrThresholds(_Strict):
    clean_min_snr_db: float = Field(15.0, ge=0, le=60, description="Below: noisy.")
    clean_max_speakers: int = Field(1, ge=1, le=10, description="Above: multi_speaker.")
    band_limited_min_drop_db: float = Field(
        20.0, ge=3, le=80, description="A spectral cliff at 4 kHz this steep means telephone or radio audio: noisy."
    )
    distorted_min_clipped_share: float = Field(
        0.001, gt=0, le=1, description="This share of the samples or more at the peak means clipped audio: noisy."
    )


class AsrPolicy(_Strict):
    multilingual_model: str = Field("base", description="Language identification and non-English speech.")
    thresholds: AsrThresholds = AsrThresholds()
    classes: dict[str, AsrRule]
    healing: HealRule = HealRule()

    @model_validator(mode="before")
    @classmethod
    def _split_the_old_class(cls, body):
        """Documents stored before the noisy and multi-speaker classes were told apart had one rule for both."""
        if isinstance(body, dict) and isinstance(body.get("classes"), dict) and LEGACY_CLASS in body["classes"]:
            classes = dict(body["classes"])
            old = classes.pop(LEGACY_CLASS)
            body = {**body, "classes": {"noisy": old, "multi_speaker": old, **classes}}
        return body

    @model_validator(mode="after")
    def _every_class(self):
        missing = set(COMPLEXITY_CLASSES) - set(self.classes)
        unknown = set(self.classes) - set(COMPLEXITY_CLASSES)
        if missing or unknown:
            raise ValueError(f"classes must be exactly {list(COMPLEXITY_CLASSES)} (missing {sorted(missing)}, unknown "
                f"{sorted(unknown)})")
        return self

    def models(self) -> set[str]:
        return {self.multilingual_model} | {r.model for r in self.classes.values()}

    def rule_for(self, complexity: str) -> AsrRule:
        """The rule of a class; a profile made before the split says `noisy_or_multi`, which is `noisy` now."""
        return self.classes["noisy" if complexity == LEGACY_CLASS else complexity]


class VisionPolicy(_Strict):
    sample_fps: float = Field(0.5, gt=0, le=30, description="Frames sampled per second, besides one per scene.")
    max_images_per_call: int = Field(50, ge=1, le=200, description="VLM batch size.")
    phash_max_distance: int = Field(6, ge=0, le=64,
        description="Sampled frames this close to one already kept are duplicates.")
    scene_threshold: float = Field(27.0, gt=0, le=255, description="PySceneDetect ContentDetector threshold for a cut.")


class EmbedPolicy(_Strict):
    model: str = "all-MiniLM-L6-v2"
    window_sentences: int = Field(2, ge=1, le=20)

    def models(self) -> set[str]:
        return {self.model}


ASPECTS = {"9:16": (9, 16), "4:5": (4, 5), "1:1": (1, 1), "16:9": (16, 9)}
CAPTION_STYLES = ("cue", "word_highlight", "word_pop")
HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")


class PlatformSpec(_Strict):
    aspect: Literal[tuple(ASPECTS)]  # type: ignore[valid-type]
    width: int = Field(ge=128, le=4096, description="Output width in pixels, even.")
    height: int = Field(ge=128, le=4096, description="Output height in pixels, even.")
    max_seconds: float = Field(60.0, ge=5, le=600)
    caption_bottom: float = Field(0.08, ge=0, le=0.5,
        description="Captions sit this share of the height above the bottom, clear of the app's buttons.")
    caption_style: Literal[CAPTION_STYLES] | None = Field(None,  # type: ignore[valid-type]
        description="This platform's caption style; unset, the clip policy's `captions.style` decides.")

    @model_validator(mode="after")
    def _size_matches_aspect(self):
        if self.width % 2 or self.height % 2:
            raise ValueError(f"width and height must be even for H.264 (got {self.width}x{self.height})")
        w, h = ASPECTS[self.aspect]
        if abs(self.width / self.height - w / h) > 0.01:
            raise ValueError(f"{self.width}x{self.height} is not {self.aspect}")
        return self


class ReframeRule(_Strict):
    track_fps: float = Field(5.0, gt=0, le=30, description="Face detections per second of clip.")
    dead_zone: float = Field(0.08, ge=0, le=0.5,
        description="The crop stays put while the face moves less than this share of the crop width.")
    ease_seconds: float = Field(0.6, gt=0, le=5, description="Time constant of the crop's critically damped motion.")
    max_speed: float = Field(0.5, gt=0, le=5, description="Fastest crop motion, in source widths per second.")
    no_face_layout: Literal["blur", "centre"] = Field("blur",
        description="Without a face: the whole frame over a blurred copy, or a centre crop.")
    detector: Literal["blazeface", "haar"] = Field("blazeface", description=(
        "Face detector: MediaPipe's BlazeFace (turned heads, small and dark faces; benchmarks/vision.py), or "
        "OpenCV's frontal Haar cascade. BlazeFace falls back to Haar where its model package is missing."))
    layout: Literal["auto", "active_speaker", "two_speaker"] = Field("auto", description=(
        "With two or more people in view: follow whoever speaks (active_speaker), stack two faces in the top and "
        "bottom halves with the captions on the seam (two_speaker), or stack only when they alternate quickly or "
        "talk over each other (auto)."))
    quick_turn_seconds: float = Field(2.5, gt=0, le=30, description=(
        "auto: a median speaker turn shorter than this (over three turns or more) stacks the two faces."))
    overlap_share: float = Field(0.25, gt=0, le=1, description=(
        "auto: two faces moving their mouths at once for this share of the speech stacks them."))


class CaptionRule(_Strict):
    burn_in: bool = True
    font_scale: float = Field(0.07, ge=0.02, le=0.15, description="Font size as a share of the output width.")
    max_lines: int = Field(2, ge=1, le=3)
    max_cue_seconds: float = Field(3.5, ge=0.5, le=10)
    pause_break_seconds: float = Field(0.6, ge=0.1, le=5, description="A pause this long starts a new caption.")
    style: Literal[("auto", *CAPTION_STYLES)] = Field("auto", description=(  # type: ignore[valid-type]
        "cue: whole cues; word_highlight: the whole cue with the spoken word in the highlight colour; word_pop: one "
        "or two words at a time, larger. auto: word_highlight on 9:16 frames, cue on the others. A platform's own "
        "`caption_style` overrides this."))
    text_colour: str = Field("#FFFFFF", description="Caption text, as #RRGGBB.")
    highlight_colour: str = Field("#FFD400", description="The word being spoken (word_highlight, word_pop).")
    outline_colour: str = Field("#000000", description="The outline around every glyph.")
    outline_share: float = Field(0.07, ge=0, le=0.3, description="Outline width as a share of the font size.")
    pop_scale: float = Field(1.4, ge=1, le=3, description="word_pop's font size relative to `font_scale`.")
    pop_words: int = Field(2, ge=1, le=3, description="word_pop: the most words shown at once.")

    @field_validator("text_colour", "highlight_colour", "outline_colour")
    @classmethod
    def _hex_colour(cls, value: str) -> str:
        if not HEX_COLOUR.fullmatch(value):
            raise ValueError(f"must be a hex colour #RRGGBB such as #FFD400 (got {value!r})")
        return value.upper()

    def style_for(self, spec: PlatformSpec) -> str:
        """The caption style one platform renders with: its own setting, else this rule's, else by aspect.

        Word highlighting is the look of the vertical apps (TikTok, Shorts, Reels), where clips are watched muted
        on a phone. Square and landscape clips go to LinkedIn-like feeds and desktops, where a calm whole cue reads
        better than animated words, so `auto` keeps cues there."""
        if spec.caption_style is not None:
            return spec.caption_style
        if self.style != "auto":
            return self.style
        return "word_highlight" if spec.aspect == "9:16" else "cue"


class PauseRule(_Strict):
    """Cutting long pauses between words out of a clip (off by default): the picture jumps, the speech tightens."""

    remove: bool = False
    min_seconds: float = Field(0.6, ge=0.2, le=5, description="Pauses between words longer than this are cut.")
    keep_seconds: float = Field(0.1, ge=0, le=1,
        description="Silence kept after the word before and before the word after a cut, so no word is clipped.")

    @model_validator(mode="after")
    def _keeps_less_than_the_pause(self):
        if 2 * self.keep_seconds >= self.min_seconds:
            raise ValueError(f"keep_seconds ({self.keep_seconds:g}) on both sides must leave something of a "
                             f"{self.min_seconds:g} s pause to cut")
        return self


class ClipPolicy(_Strict):
    top_k: int = Field(3, ge=1, le=20, description="Clips per platform, best first: each gets a row in `clips`.")
    per_hour: int = Field(10, ge=0, le=40, description=(
        "Long videos get more: at least this many clips per platform per hour of video, up to 40."))
    render_top: int = Field(1, ge=0, le=20, description=(
        "Of those, how many per platform are rendered right away; the others are rendered on demand "
        "(`ai-assets render CLIP_ID`) and marked not rendered until then."))
    platforms: dict[str, PlatformSpec]
    pad_before: float = Field(0.15, ge=0, le=2, description="Seconds kept before the first word.")
    pad_after: float = Field(0.35, ge=0, le=2, description="Seconds kept after the last word.")
    reframe: ReframeRule = ReframeRule()
    captions: CaptionRule = CaptionRule()
    pauses: PauseRule = PauseRule()
    # The fastest x264 preset whose loss is invisible (SSIM >= 0.98 against a slow, crf 16 reference):
    # benchmarks/render_quality.py measured ultrafast 0.992 at 2.6x veryfast's speed, files 2.5x larger.
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"] = "ultrafast"
    crf: int = Field(21, ge=0, le=51)
    encoder: Literal["auto", "libx264", "h264_nvenc"] = Field("auto", description=(
        "The H.264 encoder: libx264 on the CPU, h264_nvenc on an NVIDIA GPU's encoder (same preset rank, crf as its "
        "constant-quality number), or auto: NVENC where this machine's ffmpeg can open it, else libx264. NVENC that "
        "cannot run falls back to libx264, and the clips' metadata says why."))
    safety_mode: Literal["hold", "publish"] = Field("hold", description=(
        "A clip the moderation endpoint could not check (configured but unavailable; the lexicon alone judged it) "
        "is held for review, not rendered, with its reason in the clips table (hold), or rendered as usual and "
        "marked (publish)."))

    @model_validator(mode="after")
    def _named_platforms(self):
        if not self.platforms:
            raise ValueError("at least one platform is needed")
        bad = [name for name in self.platforms if not name.replace("_", "").isalnum() or name != name.lower()]
        if bad:
            raise ValueError(f"platform names must be lower-case letters, digits and _ (got {bad})")
        return self

    def clips_for(self, seconds: float) -> int:
        """Clips per platform for a video this long: `top_k`, or `per_hour` an hour when that is more."""
        return scaled_count(self.top_k, self.per_hour, seconds, 40)


def scaled_count(least: int, per_hour: int, seconds: float, most: int) -> int:
    """`least`, or `per_hour` for each hour of `seconds` (to the nearest whole) when that is more, never above `most`:
    an hour-long podcast deserves more than the three clips of a one-minute video."""
    if not math.isfinite(seconds):
        return least
    return max(least, min(most, math.floor(per_hour * max(seconds, 0.0) / 3600 + 0.5)))


class LengthRule(_Strict):
    min_seconds: float = Field(15.0, ge=3, le=600)
    max_seconds: float = Field(60.0, ge=5, le=600)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_seconds >= self.max_seconds:
            raise ValueError(f"min_seconds ({self.min_seconds:g}) must be below max_seconds ({self.max_seconds:g})")
        return self


class SegmentPolicy(_Strict):
    weights: dict[str, float] = Field(description="Weight of each named signal in the score.")
    safety_weight: float = Field(0.5, ge=0, le=2,
        description="Penalty per unit of the highest safety score below the threshold.")
    safety_threshold: float = Field(0.5, gt=0, le=1,
        description="A segment overlapping a flag at or above this is never ranked.")
    hook_seconds: float = Field(3.0, gt=0, le=15, description="How much of the opening the hook signal looks at.")
    platforms: dict[str, LengthRule] = Field(
        description="Candidate lengths per platform; each platform gets its own ranking."
    )
    top_k: int = Field(10, ge=1, le=100, description="Ranked segments per platform.")
    per_hour: int = Field(30, ge=0, le=100, description=(
        "Long videos get more: at least this many ranked segments per platform per hour (to the last sentence's "
        "end), up to 100."))
    max_overlap: float = Field(0.5, ge=0, le=1,
        description="Two ranked segments share at most this share of the shorter one.")
    max_repeat: float = Field(0.3, ge=0, le=1, description=(
        "Two ranked segments share at most this share of the shorter one's wording (its three-word phrases), "
        "wherever they are, and never open with the same sentence: a sponsor read, intro or catchphrase said again "
        "is ranked once. 1 allows repeats."))
    copy_top_k: int = Field(3, ge=0, le=20,
        description="Top segments per platform that get a title, description and hashtags.")

    @model_validator(mode="after")
    def _weights(self):
        missing, unknown = set(SIGNALS) - set(self.weights), set(self.weights) - set(SIGNALS)
        if missing or unknown:
            raise ValueError(f"weights must name exactly {list(SIGNALS)} (missing {sorted(missing)}, unknown "
                f"{sorted(unknown)})")
        if any(w < 0 or w > 1 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("each weight must lie in [0, 1] and at least one must be positive")
        if not self.platforms:
            raise ValueError("at least one platform is needed")
        return self

    def ranked_for(self, seconds: float) -> int:
        """Ranked segments per platform for a transcript this long: `top_k`, or `per_hour` an hour when that is
        more."""
        return scaled_count(self.top_k, self.per_hour, seconds, 100)


SCHEMAS: dict[str, type[_Strict]] = {
    "asr": AsrPolicy, "vision": VisionPolicy, "embed": EmbedPolicy, "clip": ClipPolicy, "segment": SegmentPolicy,
}

DEFAULTS: dict[str, dict] = {
    "asr": {
        "multilingual_model": "base",
        "thresholds": {"clean_min_snr_db": 15.0, "clean_max_speakers": 1},
        "classes": {
            "clean_single": {"model": "tiny.en", "beam_size": 1, "batch_size": 8, "compute_type": "int8"},
            # Hard audio gets a wider beam. A looser VAD gained nothing on the tuning set (LibriVox through a
            # radio channel: WER 0.127 at thresholds 0.5, 0.35 and 0.25), so it keeps the default VAD.
            "noisy": {"model": "tiny.en", "beam_size": 5, "batch_size": 8, "compute_type": "int8"},
            "multi_speaker": {"model": "tiny.en", "beam_size": 5, "batch_size": 8, "compute_type": "int8"},
        },
    },
    "vision": {},
    "embed": {},
    "clip": {"platforms": {name: p.clip_spec() for name, p in PLATFORMS.items()}},
    "segment": {
        "weights": {
            "hook": 0.20, "emotion": 0.15, "speech_rate": 0.10, "speaker_dynamics": 0.05, "visual": 0.10,
            "completeness": 0.30, "speech_density": 0.10,
        },
        "platforms": {name: p.length_rule() for name, p in PLATFORMS.items()},
    },
}


class PolicyError(ValueError):
    """A policy document that is refused; the message says what to fix."""


def canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def rule_sha(rule: AsrRule | dict) -> str:
    """A short hash of one asr rule without its batch size: which rule decoded a video, in metrics and the
    optimizer's samples. The batch size changes no output (tested), so videos decoded before a batch-size edit
    still count toward the rule."""
    data = rule.model_dump(mode="json") if isinstance(rule, AsrRule) else rule
    return hashlib.sha256(canonical({k: v for k, v in data.items() if k != "batch_size"}).encode()).hexdigest()[:12]


def validate(domain: str, body: dict, available_models: dict[str, list[str]] | None = None) -> dict:
    """Return the complete, canonical body (defaults filled in) or raise PolicyError."""
    if domain not in SCHEMAS:
        raise PolicyError(f"unknown policy domain '{domain}' (domains: {', '.join(DOMAINS)})")
    try:
        parsed = SCHEMAS[domain].model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"invalid {domain} policy: {problems}") from None
    if available_models is not None and hasattr(parsed, "models"):
        kind = "whisper" if domain == "asr" else "embedding"
        unknown = sorted(parsed.models() - set(available_models[kind]))
        if unknown:
            raise PolicyError(
                f"invalid {domain} policy: model {', '.join(unknown)} not available (available: "
                f"{', '.join(available_models[kind])})"
            )
    return json.loads(canonical(parsed.model_dump(mode="json")))


@dataclass(frozen=True)
class Policy:
    domain: str
    version: int
    created_at: datetime
    author: str
    reason: str
    body: dict

    @property
    def sha256(self) -> str:
        return hashlib.sha256(canonical(self.body).encode()).hexdigest()

    def parsed(self):
        return SCHEMAS[self.domain].model_validate(self.body)


def default_policy(domain: str) -> Policy:
    return Policy(domain, 0, datetime.fromtimestamp(0, tz=UTC), "user", "built-in default",
        validate(domain, DEFAULTS[domain]))


TABLE_SQL = """
CREATE TABLE IF NOT EXISTS policies (
    domain VARCHAR NOT NULL, version INTEGER NOT NULL, created_at TIMESTAMPTZ NOT NULL,
    author VARCHAR NOT NULL, reason VARCHAR NOT NULL, body JSON NOT NULL, sha256 VARCHAR NOT NULL,
    PRIMARY KEY (domain, version))
"""


DECISIONS_SQL = """
CREATE TABLE IF NOT EXISTS policy_decisions (
    domain VARCHAR NOT NULL, decided_at TIMESTAMPTZ NOT NULL, version INTEGER, changed BOOLEAN NOT NULL,
    summary VARCHAR NOT NULL, evidence VARCHAR NOT NULL)
"""


@dataclass(frozen=True)
class PolicyDecision:
    """One judgement of the optimizer, a change or not, with the evidence it was made on (a markdown table)."""

    domain: str
    decided_at: datetime
    version: int | None  # the version it stored, when it changed the policy
    changed: bool
    summary: str
    evidence: str


class PolicyLocked(RuntimeError):
    """metrics.duckdb stayed locked by another process for the whole wait."""


class PolicyStore:
    """Reads open the file read-only and briefly; a write waits up to `lock_wait_s` for the lock."""

    def __init__(self, db_path: Path, lock_wait_s: float = 10.0):
        self.db_path = Path(db_path)
        self.lock_wait_s = lock_wait_s

    def _connect(self, read_only: bool):
        import duckdb

        def attempt():
            if read_only:
                return duckdb.connect(str(self.db_path), read_only=True)
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = duckdb.connect(str(self.db_path))
            conn.execute(TABLE_SQL)
            conn.execute(DECISIONS_SQL)
            return conn

        try:
            return retry_while_locked(attempt, self.lock_wait_s, poll_s=0.1)
        except duckdb.Error as exc:
            raise PolicyLocked(f"{self.db_path} is locked by another process ({exc}); close it and retry") from None

    def history(self, domain: str) -> list[Policy]:
        """The built-in default (version 0), then every stored version, oldest first."""
        if domain not in SCHEMAS:
            raise PolicyError(f"unknown policy domain '{domain}' (domains: {', '.join(DOMAINS)})")
        rows = []
        if self.db_path.exists():
            conn = self._connect(read_only=True)
            try:
                if conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'policies'").fetchone()[0]:
                    rows = conn.execute(
                        "SELECT domain, version, created_at, author, reason, body FROM policies WHERE domain = ? "
                        "ORDER BY version", [domain]
                    ).fetchall()
            finally:
                conn.close()
        return [default_policy(domain), *(Policy(d, v, c, a, r, json.loads(b)) for d, v, c, a, r, b in rows)]

    def current(self, domain: str) -> Policy:
        return self.history(domain)[-1]

    def decisions(self, domain: str, limit: int = 20) -> list[PolicyDecision]:
        """The optimizer's latest decisions for a domain, newest first."""
        if not self.db_path.exists():
            return []
        conn = self._connect(read_only=True)
        try:
            if not conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'policy_decisions'"
                                ).fetchone()[0]:
                return []
            rows = conn.execute("SELECT domain, decided_at, version, changed, summary, evidence FROM policy_decisions "
                "WHERE domain = ? ORDER BY decided_at DESC LIMIT ?", [domain, limit]).fetchall()
        finally:
            conn.close()
        return [PolicyDecision(*row) for row in rows]

    def record_decision(self, domain: str, changed: Policy | None, summary: str, evidence: str) -> bool:
        """Keep a decision with its evidence; the same "no change" as the last one is not stored again (the sensor
        judges every few minutes). Returns whether a row was stored."""
        last = self.decisions(domain, limit=1)
        if changed is None and last and not last[0].changed and (last[0].summary, last[0].evidence) == (
                summary, evidence):
            return False
        conn = self._connect(read_only=False)
        try:
            conn.execute("INSERT INTO policy_decisions VALUES (?, ?, ?, ?, ?, ?)", [domain, datetime.now(UTC),
                changed.version if changed else None, changed is not None, summary, evidence])
        finally:
            conn.close()
        return True

    def set(self, domain: str, body: dict, author: str, reason: str,
            available_models: dict[str, list[str]] | None = None) -> Policy:
        """Validate and store a new version; an identical body stores nothing and returns the current one."""
        if author not in AUTHORS:
            raise PolicyError(f"author must be one of {AUTHORS}")
        if not reason.strip():
            raise PolicyError("a reason is required")
        clean = validate(domain, body, available_models)
        conn = self._connect(read_only=False)
        try:
            conn.execute("BEGIN")
            last = conn.execute("SELECT version, body FROM policies WHERE domain = ? ORDER BY version DESC LIMIT 1",
                [domain]).fetchone()
            unchanged = json.loads(last[1]) == clean if last else clean == default_policy(domain).body
            if unchanged:
                conn.execute("ROLLBACK")
            else:
                version = (last[0] if last else 0) + 1
                created = Policy(domain, version, datetime.now(UTC), author, reason.strip(), clean)
                conn.execute(
                    "INSERT INTO policies VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [domain, version, created.created_at, author, created.reason, canonical(clean), created.sha256],
                )
                conn.execute("COMMIT")
        finally:
            conn.close()
        return self.current(domain) if unchanged else created
