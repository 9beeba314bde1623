"""How supervised objects are graded by risk (hub/risk.py): the weight of a finding by its risk
class and age, and the grades a score falls into, each with the sampling weight a double-random
inspection (双随机) system takes."""

from __future__ import annotations

from pydantic import Field, model_validator

from hub.config.types import Model, RiskClass, Seconds


class Grade(Model):
    """A risk grade: from `from_score` up to the next grade's."""

    grade: str = Field(min_length=1, max_length=8, description="A, B, C, D or the deployment's own")
    label: str = Field(min_length=1, description="What the grade means to a person, e.g. 低风险")
    from_score: float = Field(ge=0, description="The least score of this grade")
    weight: float = Field(gt=0, description="Sampling weight for double-random inspections")


def default_grades() -> list[Grade]:
    return [
        Grade(grade="A", label="低风险", from_score=0, weight=1),
        Grade(grade="B", label="一般风险", from_score=5, weight=2),
        Grade(grade="C", label="较高风险", from_score=15, weight=3),
        Grade(grade="D", label="高风险", from_score=30, weight=4),
    ]


def _default_weights() -> dict[RiskClass, float]:
    return {1: 10.0, 2: 5.0, 3: 2.0}


class RiskScoring(Model):
    """A finding adds its risk class's weight, halved every `half_life`; one not yet confirmed by
    the department adds `unconfirmed` of that; a false alarm (dismissed, or fed back as one) adds
    nothing."""

    half_life: Seconds = Field(default=90 * 86400.0, description="Age at which a finding counts half")
    class_weights: dict[RiskClass, float] = Field(
        default_factory=_default_weights,
        description="Weight of a finding per risk class (1 immediate, 2 by a deadline, 3 routine)",
    )
    unconfirmed: float = Field(
        default=0.5, ge=0, le=1, description="Share of its weight a finding counts before its verdict"
    )
    grades: list[Grade] = Field(default_factory=default_grades, min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> RiskScoring:
        missing = sorted({1, 2, 3} - set(self.class_weights))
        if missing:
            raise ValueError(f"class_weights missing for risk class(es) {missing}")
        if any(w < 0 for w in self.class_weights.values()):
            raise ValueError("class_weights must not be negative")
        starts = [g.from_score for g in self.grades]
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError("grades start at from_score 0 and rise strictly, e.g. A 0, B 5, C 15, D 30")
        names = [g.grade for g in self.grades]
        if len(set(names)) != len(names):
            raise ValueError(f"grade names repeat: {names}")
        return self

    def grade_of(self, score: float) -> Grade:
        return [g for g in self.grades if g.from_score <= score][-1]
