"""Settings of the optimization sensor and of shadow evaluation."""

import hashlib

import dagster as dg
from pydantic import Field

from ai_assets.policy.optimizer import OptimizerSettings
from ai_assets.ranking.refit import RefitSettings


class OptimizerConfig(dg.ConfigurableResource):
    feedback_dir: str | None = Field(None,
        description="Where feedback entries are written (lake/feedback); None: no refits.")
    min_samples: int = Field(3, description="Videos under a rule before the sensor acts on it.")
    target_confidence: float = Field(0.60, description="Target geometric-mean token probability of transcripts.")
    confidence_margin: float = Field(0.05, description="Hysteresis around the confidence target.")
    target_wer: float = Field(0.15, description="Target WER where references exist.")
    wer_margin: float = 0.03
    budget_rtf: float = Field(0.5, description="Budget: seconds of transcription per second of audio.")
    rollback_min_samples: int = 3
    rollback_confidence_drop: float = 0.03
    rollback_wer_rise: float = 0.02
    max_batch_size: int = 32
    shadow_sample_rate: float = Field(0.2, ge=0, le=1,
        description="Share of videos also transcribed with the candidate rule.")
    require_shadow_evidence: bool = Field(False,
        description="Upgrade only after min_shadow_samples shadow runs of the step.")
    min_shadow_samples: int = 2
    refit_min_rows: int = Field(30, description="Labelled feedback rows before the segment weights are refitted.")
    refit_min_gain: float = Field(0.02, description="Held-out agreement (AUC) a refit must add.")
    refit_prior_rows: float = Field(20.0, description="How many rows' worth of trust the current weights keep.")
    rollback_feedback_rows: int = Field(10, description="Labelled rows after a refit before it can be rolled back.")
    rollback_agreement_drop: float = 0.03

    def settings(self) -> OptimizerSettings:
        return OptimizerSettings(
            min_samples=self.min_samples, target_confidence=self.target_confidence,
            confidence_margin=self.confidence_margin,
            target_wer=self.target_wer, wer_margin=self.wer_margin, budget_rtf=self.budget_rtf,
            rollback_min_samples=self.rollback_min_samples, rollback_confidence_drop=self.rollback_confidence_drop,
            rollback_wer_rise=self.rollback_wer_rise, max_batch_size=self.max_batch_size,
            require_shadow_evidence=self.require_shadow_evidence, min_shadow_samples=self.min_shadow_samples,
        )

    def refit_settings(self) -> RefitSettings:
        return RefitSettings(
            min_rows=self.refit_min_rows, min_gain=self.refit_min_gain, prior_rows=self.refit_prior_rows,
            rollback_min_rows=self.rollback_feedback_rows, rollback_drop=self.rollback_agreement_drop,
        )

    def in_shadow_sample(self, video: str) -> bool:
        """A stable choice per video, so a rerun makes the same decision."""
        bucket = int(hashlib.sha256(video.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return bucket < self.shadow_sample_rate
