"""Brand safety: flags for profanity, hate, sexual content, violence and self-harm, with times.

Two sources with one shape: `lexicon_flags` is local and always available (word-level, so it can say exactly which
words to bleep or which seconds to avoid); `moderate` asks an OpenAI-compatible moderation endpoint, which
reads context the lexicon cannot. Every flag keeps its score, and the policy's threshold decides later what blocks a
clip; lower scores still count as a ranking `penalty`.

Moderation never fails open: calls are retried within the endpoint's budget, and a span it still could not check
gets an `UNMODERATED` row (score 0, the reason as its text), so ranking knows the lexicon alone judged it and the
clip policy's `safety_mode` decides whether such a clip is held for review or published.

The lexicon scores a term by how reliably it is harmful in a talk or podcast: strong terms 0.7 and up, mild or
context-dependent ones ("damn", "kill", "shoot", "bomb") below the default threshold of 0.5, so "kill time" or
"shoot a video" only dent a clip's rank while "I will kill you" blocks it. It holds no slurs; hate is caught by
dehumanising phrases, and by the moderation endpoint.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import lru_cache

from ai_assets.language.emotion import word_forms
from ai_assets.language.llm import BUDGET_SPENT, with_retries
from ai_assets.language.sentences import SENTENCE_END, join_words

CATEGORIES = ("profanity", "hate", "sexual", "violence", "self_harm")
# The category of a safety row that says the moderation endpoint was asked about a span and did not answer.
UNMODERATED = "unmoderated"
# Moderation scores below this are noise; anything above is kept for the policy's threshold to decide.
MODERATION_MIN_SCORE = 0.01
# OpenAI moderation categories folded into ours; the rest (illicit, illicit/violent) are not brand-safety concerns here.
OPENAI_CATEGORIES = {
    "hate": "hate", "hate/threatening": "hate", "harassment": "hate", "harassment/threatening": "hate",
    "sexual": "sexual", "sexual/minors": "sexual",
    "violence": "violence", "violence/graphic": "violence",
    "self-harm": "self_harm", "self-harm/intent": "self_harm", "self-harm/instructions": "self_harm",
}
REASON_TEXT_CHARS = 60

# category -> (score, space-separated terms). Terms are base forms: word_forms() finds "fucking", "pissed", "killers".
_TERMS = {
    "profanity": (
        (0.95, "fuck motherfucker cunt cocksucker fuckin fucker"),
        (0.85, "shit bullshit horseshit shitty asshole arsehole bitch dickhead twat wanker"),
        (0.75, "bastard stfu"),
        (0.6, "wtf dumbass jackass douchebag pussy"),
        (0.5, "bollocks douche goddamn"),
        (0.45, "ass piss dick prick cock"),
        (0.35, "damn dammit crap crappy arse bugger"),
        (0.3, "hell bloody"),
    ),
    "hate": (
        (0.85, "subhuman untermensch"),
        (0.4, "vermin savages"),
    ),
    "sexual": (
        (0.9, "blowjob handjob milf"),
        (0.85, "porn porno pornography dildo slut whore threesome"),
        (0.75, "orgasm masturbate masturbation horny tits nudes"),
        (0.6, "boobs erection xxx"),
        (0.55, "hooker"),
        (0.45, "nude sexy penis vagina stripper prostitute"),
        (0.4, "sex sexual"),
        (0.3, "naked"),
    ),
    "violence": (
        (0.95, "rape"),
        (0.85, "behead dismember mutilate"),
        (0.7, "massacre torture strangle stab bloodbath"),
        (0.6, "murder slaughter assassinate"),
        (0.45, "kill"),
        (0.4, "assault genocide terrorist"),
        (0.3, "shoot gun bomb choke"),
    ),
    "self_harm": (
        (0.75, "selfharm"),
        (0.6, "suicidal"),
        (0.45, "suicide overdose"),
    ),
}

# category -> (score, phrase pattern). A pattern is slots separated by spaces: alternatives joined by "|", a slot
# ending in "?" is optional, one starting with "!" says the next word must not be one of these (and takes none).
# Words are matched by their forms, so "kill" matches "killing"; contractions are expanded first ("I'll" -> "i will").
# A threat needs a person as its object, and not one that makes it an errand ("I'll shoot you an email").
_THREAT = "kill|murder|shoot|stab|strangle|behead"
_NOT_A_TARGET = "!a|an|some|guys|down|up|over|back|out|through|this|that"
_PEOPLE = "you|him|her|them|everyone|everybody|us"  # not "people": photographers shoot people
_PHRASES = {
    "profanity": (
        (0.85, "son of a bitch"),
        (0.5, "go to hell"),
        (0.55, "screw you"),
    ),
    "hate": (
        (0.9, "they|these|those|you people? are|were all? "
            "animals|vermin|subhuman|parasites|cockroaches|rats|savages|scum|filth|insects|beasts"),
        (0.85, "they|these|those|you people? are|were not even? human"),
        (0.9, "inferior race|people|breed"),
        (0.85, "master race"),
        (0.85, "race traitor"),
        (0.8, "go back to your|their own? country"),
        (0.85, "kill|hang yourself|yourselves"),
        (0.8, "go back to where you|they came from"),
        (0.9, "they|these|those people? should|must|ought to? be exterminated|eradicated|gassed"),
        (0.9, "they|these|those people? should|must|ought to? be wiped out"),
        (0.85, "they|these|those people? do not deserve to live|exist"),
        (0.75, "white power"),
    ),
    "sexual": (
        (0.85, "oral|anal sex"),
        (0.8, "sex tape"),
        (0.85, "send nudes"),
        (0.75, "naked picture|photo|pic|selfie"),
        (0.6, "have sex with"),
        (0.55, "get laid"),
        (0.99, "child|kiddie porn|pornography"),
        (0.85, "suck my"),
    ),
    "violence": (
        (0.9, f"i|we will|shall|would {_THREAT} {_PEOPLE} {_NOT_A_TARGET}"),
        (0.9, f"i|we am|are gonna {_THREAT} {_PEOPLE} {_NOT_A_TARGET}"),
        (0.9, f"i|we am|are going to {_THREAT} {_PEOPLE} {_NOT_A_TARGET}"),
        (0.75, f"shoot|stab|strangle {_PEOPLE} {_NOT_A_TARGET}"),
        (0.45, f"kill|murder {_PEOPLE} {_NOT_A_TARGET}"),  # "it won't kill you" is common
        (0.7, "bomb the"),
        (0.8, "shoot up the"),
        (0.95, "slit|cut your|his|her|their throat"),
        (0.9, "put a bullet in|through"),
        (0.85, f"beat {_PEOPLE} to death"),
        (0.8, "beat the shit out of"),
        (0.9, f"burn {_PEOPLE} alive"),
    ),
    "self_harm": (
        (0.95, "kill|hang|shoot myself"),
        (0.85, "cut|harm|starve myself"),
        (0.7, "hurt myself"),
        (0.95, "end|take my own? life"),
        (0.85, "i want|wanna to? die"),
        (0.85, "i want to be dead"),
        (0.85, "commit suicide"),
        (0.95, "slit my wrists"),
        (0.8, "better off dead"),
        (0.8, "no reason to live"),
        (0.8, "i do not want to live|be alive"),
        (0.85, "i do not deserve to live"),
        (0.7, "self harm"),
    ),
}

_CONTRACTIONS = (("n't", "not"), ("'ll", "will"), ("'re", "are"), ("'ve", "have"), ("'m", "am"), ("'d", "would"),
    ("'s", ""))
_IRREGULAR = {"won't": ["will", "not"], "can't": ["can", "not"], "ain't": ["is", "not"]}
_LEET = str.maketrans("013457@$!+", "oieastasit")
_MASK = "*#"
_EDGE = ".,!?;:\"'()[]{}<>…“”‘’-–—"


@dataclass(frozen=True)
class Flag:
    start: float
    end: float
    category: str
    score: float
    text: str
    source: str  # "lexicon" or "moderation"


@dataclass(frozen=True)
class _Pattern:
    category: str
    score: float
    slots: tuple[tuple[frozenset[str], str], ...]  # (alternatives, "word" | "optional" | "not")


def _compile(pattern: str) -> tuple[tuple[frozenset[str], str], ...]:
    slots = []
    for slot in pattern.split():
        kind = "not" if slot.startswith("!") else "optional" if slot.endswith("?") else "word"
        slots.append((frozenset(slot.strip("!?").split("|")), kind))
    if slots[0][1] != "word":
        raise ValueError(f"a phrase pattern must start with a word: {pattern!r}")
    return tuple(slots)


TERMS: dict[str, dict[str, float]] = {
    category: {term: score for score, terms in groups for term in terms.split()} for category, groups in _TERMS.items()
}
PATTERNS = tuple(
    _Pattern(category, score, _compile(p)) for category, phrases in _PHRASES.items() for score, p in phrases
)
_BY_FIRST_WORD: dict[str, list[_Pattern]] = {}
for _p in PATTERNS:
    for _word in _p.slots[0][0]:
        _BY_FIRST_WORD.setdefault(_word, []).append(_p)
_ALL_TERMS = frozenset(t for terms in TERMS.values() for t in terms)


def _tokens(word: str) -> list[str]:
    """One Whisper word as lexicon tokens: lower case, edge punctuation off, contractions expanded, hyphens and
    apostrophes dropped ("self-harm" -> "selfharm"), leetspeak decoded ("sh1t" -> "shit"); "*"/"#" masks stay."""
    w = word.strip().lower().replace("’", "'")
    if len(w) > 2 and w[0] == w[-1] == "*":  # "*laughs*" is a stage direction, not a mask
        w = w[1:-1]
    w = w.strip(_EDGE)
    if w in _IRREGULAR:
        parts = _IRREGULAR[w]
    else:
        suffix, expansion = next(((s, e) for s, e in _CONTRACTIONS if w.endswith(s) and len(w) > len(s)), ("", ""))
        parts = [w[: len(w) - len(suffix)], expansion] if suffix else [w]
    out = []
    for part in parts:
        part = re.sub(r"[^a-z0-9*#@$!+]", "", part)
        if any(c.isalpha() for c in part):
            out.append(part.translate(_LEET))
    return out


@lru_cache(maxsize=8192)
def _forms(token: str) -> frozenset[str]:
    """The lexicon words `token` may be: its inflection stems, and for a masked token ("f*ck", "f***ing") the terms
    its visible letters fit; the first letter must be visible, so "****" or "#tag" match nothing."""
    forms = set(word_forms(token))
    if any(c in _MASK for c in token) and token[0] not in _MASK:
        for form in [f for f in forms if any(c in _MASK for c in f)]:
            shape = re.compile("".join("." if c in _MASK else re.escape(c) for c in form))
            forms.update(t for t in _ALL_TERMS if shape.fullmatch(t))
    return frozenset(forms)


_BOUNDARY: frozenset[str] = frozenset({"<sentence end>"})


def _match(slots, forms: list[frozenset[str]], i: int) -> int | None:
    """The end (exclusive) of a match of `slots` starting at token i, or None."""
    if not slots:
        return i
    alternatives, kind = slots[0]
    here = i < len(forms) and bool(forms[i] & alternatives)
    if kind == "not":
        return None if here else _match(slots[1:], forms, i)
    end = _match(slots[1:], forms, i + 1) if here else None
    if end is None and kind == "optional":
        return _match(slots[1:], forms, i)
    return end


def lexicon_flags(words: list[dict]) -> list[Flag]:
    """Flags from the local lexicon for Whisper words ({"start", "end", "word"}), in time order.

    Matching is per token, so "Scunthorpe" or "assessment" never match a term inside them. A flag inside a phrase
    of the same category that scored at least as high is not flagged again.
    """
    tokens, forms = [], []
    for i, w in enumerate(words):
        for token in _tokens(w["word"]):
            tokens.append((token, i))
            forms.append(_forms(token))
        if w["word"].strip().endswith(SENTENCE_END):
            # A phrase never runs on into the next sentence ("I will kill you. That is ..." is still a threat).
            tokens.append(("", i))
            forms.append(_BOUNDARY)

    def flag(first: int, last: int, category: str, score: float) -> Flag:
        a, b = tokens[first][1], tokens[last][1]
        text = join_words(w["word"].strip() for w in words[a : b + 1])
        return Flag(words[a]["start"], words[b]["end"], category, score, text, "lexicon")

    phrases: list[Flag] = []
    for i, options in enumerate(forms):
        best: dict[str, tuple[float, int]] = {}
        for pattern in {p for f in options for p in _BY_FIRST_WORD.get(f, ())}:
            end = _match(pattern.slots, forms, i)
            if end is not None and (pattern.score, end) > best.get(pattern.category, (0.0, 0)):  # ties: the longer
                best[pattern.category] = (pattern.score, end)
        phrases += [flag(i, end - 1, category, score) for category, (score, end) in best.items()]
    terms = []
    for i, options in enumerate(forms):
        for category in CATEGORIES:
            score = max((TERMS[category].get(f, 0.0) for f in options), default=0.0)
            if score > 0:
                terms.append(flag(i, i, category, score))
    found = set(phrases + terms)
    kept = [f for f in found if not any(_covers(p, f) for p in phrases)]
    return sorted(kept, key=lambda f: (f.start, -f.score, f.category))


def _covers(outer: Flag, inner: Flag) -> bool:
    """`outer` says all `inner` says: same category, around it, at least as sure, and not the same flag."""
    return (outer.category == inner.category and outer.start <= inner.start and inner.end <= outer.end
            and outer.score >= inner.score and outer != inner)


@dataclass
class Moderation:
    flags: list[Flag] = field(default_factory=list)  # scores, and one UNMODERATED flag per batch left unchecked
    calls: int = 0
    unmoderated: int = 0  # spans the endpoint did not check
    error: str | None = None  # the first reason why


def moderate(client, model: str, spans: list[tuple[float, float, str]], deadline: float, backoff_s: float,
        batch: int = 32) -> Moderation:
    """Flags from an OpenAI-compatible moderation endpoint, one per span and category scoring at least
    MODERATION_MIN_SCORE (the highest of the OpenAI categories folded into it). Blank spans are not sent.

    Each batch is retried by `with_retries` until `deadline` (a time.monotonic() value); a batch that still fails
    or gets an unusable answer becomes one UNMODERATED flag over its spans; once a batch has failed for the whole
    budget, the endpoint is taken as down and the batches left are not tried. Errors name only the exception type
    and status code, never the request."""
    spans = [s for s in spans if s[2].strip()]
    result = Moderation()
    down = False
    for offset in range(0, len(spans), batch):
        chunk = spans[offset : offset + batch]
        if down:
            error = result.error
        else:
            response, attempts, error = with_retries(
                lambda chunk=chunk: client.moderations.create(model=model, input=[t for _, _, t in chunk]),
                deadline, backoff_s)
            result.calls += attempts
            if error is None:
                try:
                    result.flags += _moderation_flags(chunk, response)
                    continue
                except (AttributeError, TypeError, ValueError) as exc:  # a 200 that is not a moderation answer
                    error = f"unusable response ({type(exc).__name__})"
        result.error = result.error or error
        down = down or error.endswith(BUDGET_SPENT) or time.monotonic() >= deadline
        result.unmoderated += len(chunk)
        result.flags.append(Flag(chunk[0][0], chunk[-1][1], UNMODERATED, 0.0, error, "moderation"))
    return result


def _moderation_flags(chunk: list[tuple[float, float, str]], response) -> list[Flag]:
    flags = []
    for (start, end, text), answer in zip(chunk, response.results, strict=True):
        scores: dict[str, float] = {}
        for name, score in answer.category_scores.model_dump(by_alias=True).items():
            if name in OPENAI_CATEGORIES and score is not None:
                ours = OPENAI_CATEGORIES[name]
                scores[ours] = max(scores.get(ours, 0.0), float(score))
        flags += [Flag(start, end, c, round(s, 4), text, "moderation") for c, s in scores.items()
            if s >= MODERATION_MIN_SCORE]
    return flags


def unmoderated(flags: list[Flag], start: float, end: float) -> list[Flag]:
    """The UNMODERATED rows in [start, end): the moderation endpoint did not check this part of a clip."""
    return [f for f in flags if f.category == UNMODERATED and _overlaps(f, start, end)]


def _overlaps(flag: Flag, start: float, end: float) -> bool:
    """Whether `flag` falls in [start, end): starts inside it, or started before and runs into it."""
    return start <= flag.start < end or flag.start < start < flag.end


def blocking_flags(flags: list[Flag], start: float, end: float, threshold: float) -> list[Flag]:
    """Flags in [start, end) scoring at least `threshold`, highest first: a clip there must not be published."""
    hits = [f for f in flags if f.score >= threshold and _overlaps(f, start, end)]
    return sorted(hits, key=lambda f: (-f.score, f.start))


def penalty(flags: list[Flag], start: float, end: float) -> float:
    """The highest score among flags in [start, end), 0.0 when none: ranks sub-threshold flags below clean clips."""
    return max((f.score for f in flags if _overlaps(f, start, end)), default=0.0)


def reason(flags: list[Flag]) -> str:
    """One readable line, e.g. 'profanity 0.90 at 12.3–12.8 s ("what the f*ck")'."""
    parts = []
    for f in flags:
        text = f.text if len(f.text) <= REASON_TEXT_CHARS else f.text[: REASON_TEXT_CHARS - 1] + "…"
        parts.append(f'{f.category.replace("_", "-")} {f.score:.2f} at {f.start:.1f}–{f.end:.1f} s ("{text}")')
    return "; ".join(parts)
