"""Every platform clips are made for, in one table: the frame, how long a clip may run, where captions sit and
how much copy fits. The clip and segment policies' defaults and clip copy's limits all read it.

Copy limits (hashtags sit in the caption on every one of these platforms, so the caption limit counts them):
- shorts: YouTube's own limits, title 100 and description 5000; YouTube shows 3 hashtags above the title.
- tiktok: TikTok accepts 2200+ characters, but the feed shows about one line; 150 (its old hard limit) keeps
  the whole caption readable at a glance. TikTok has no title field: the title is the hook line.
- reels: Instagram's caption limit is 2200; Instagram now allows at most 5 hashtags. No title field.
- linkedin: a post's text is limited to 3000; LinkedIn suggests a few hashtags. No title field.
Titles are 100 characters everywhere, YouTube's limit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    aspect: str
    width: int
    height: int
    min_seconds: float  # the shortest segment worth ranking for it
    max_seconds: float  # the longest clip it takes
    caption_bottom: float  # captions sit this share of the height above the bottom, clear of the app's buttons
    title: int  # characters of the title (or hook line, where the platform has no title field)
    caption: int  # characters of the description plus the hashtags appended to it
    hashtags: int  # most hashtags

    def clip_spec(self) -> dict:
        """The platform's entry in the clip policy."""
        return {"aspect": self.aspect, "width": self.width, "height": self.height, "max_seconds": self.max_seconds,
                "caption_bottom": self.caption_bottom}

    def length_rule(self) -> dict:
        """The platform's entry in the segment policy."""
        return {"min_seconds": self.min_seconds, "max_seconds": self.max_seconds}


# Short-form apps reward 15–60 s; LinkedIn viewers stay for a fuller thought.
PLATFORMS: dict[str, Platform] = {
    "tiktok": Platform("9:16", 1080, 1920, min_seconds=15, max_seconds=60, caption_bottom=0.2, title=100, caption=150,
    hashtags=5), "shorts": Platform("9:16", 1080, 1920, min_seconds=15, max_seconds=60, caption_bottom=0.2, title=100,
    caption=5000, hashtags=5),
    "reels": Platform("9:16", 1080, 1920, min_seconds=15, max_seconds=60, caption_bottom=0.2, title=100, caption=2200,
    hashtags=5), "linkedin": Platform("1:1", 1080, 1080, min_seconds=20, max_seconds=60, caption_bottom=0.08, title=100,
    caption=3000, hashtags=5),
}
# Other names users give the same platforms.
ALIASES = {"youtube": "shorts", "instagram": "reels"}
