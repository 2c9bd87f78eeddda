"""``type: hybrid`` — weighted fusion of several retrieval channels.

Each channel is a registered source retriever (``vector``, ``bm25``, ``recency`` or a
plugin's) run with ``k = candidates``. Two fusions:

- ``rrf`` (reciprocal rank): a note scores ``sum_c weight_c / (rrf_k + rank_c)``, ranks
  starting at 1;
- ``score``: a note scores ``sum_c weight_c * score_c / max score_c`` — each channel's
  scores divided by that channel's best, so BM25 and cosine land on one scale.

Notes a channel did not return get nothing from it. Naive equal-weight fusion with a weak
channel can hurt (on LoCoMo, BM25 alone beats an equal-weight RRF of BM25 and MiniLM), so
the weights are tunable. The fusion itself is :func:`evolvelab.modules.retrieve._fusion.fuse`.

A channel runs with its type's defaults unless ``settings`` gives it some, by channel
type: ``settings: {bm25: {content_weight: 0.3, drop_stop_words: true}}`` fuses a tuned
BM25 with the vectors (a channel's ``k`` is always ``candidates``). The settings are
checked against the channel's own config when the pipeline is built, each problem
located at its key.

The channels are built with the pipeline (:meth:`HybridRetriever.build`, from the same
registry the pipeline is built from), so a channel type that does not exist is a
configuration error, never a surprise at ``open``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from evolvelab.config import RetrieverConfig, StageConfig, Tunable
from evolvelab.errors import EvolveLabError, closest
from evolvelab.modules.retrieve._fusion import fuse
from evolvelab.stages import Issue, Resources, Retriever, TypeLookup
from evolvelab.types import Hit, Query

__all__ = ["HybridConfig", "HybridRetriever"]


class HybridConfig(RetrieverConfig):
    """Fuse channels by weighted reciprocal rank or max-normalised score.

    Example:
        ```yaml
        retrieve:
          - {type: hybrid, channels: [bm25, vector], weights: [1.0, 0.6], k: 20}
          - type: hybrid
            channels: [bm25, vector]
            settings: {bm25: {content_weight: 0.3}}
        ```
    """

    type: Literal["hybrid"] = "hybrid"
    channels: list[str] = Field(
        default_factory=lambda: ["bm25", "vector"],
        min_length=1,
        description="Source retriever types to fuse, each run with k = candidates.",
    )
    weights: list[float] | None = Field(
        None, description="One weight per channel (default: all 1.0)."
    )
    settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Settings of some channels, by channel type (e.g. {bm25: "
        "{content_weight: 0.3}}); a channel not named runs with its defaults. A channel's "
        "k is always candidates.",
    )
    fusion: Annotated[Literal["rrf", "score"], Tunable(choices=("rrf", "score"))] = Field(
        "rrf", description="rrf: weighted reciprocal rank; score: weighted max-normalised scores."
    )
    rrf_k: Annotated[float, Tunable(1, 120, log=True, when={"fusion": "rrf"})] = Field(
        60.0, gt=0, description="Rank offset of reciprocal-rank fusion."
    )
    candidates: Annotated[int, Tunable(10, 200, log=True)] = Field(
        50, ge=1, le=1000, description="How many notes each channel fetches."
    )
    k: Annotated[int, Tunable(5, 100, log=True)] = Field(
        20, ge=1, le=1000, description="How many fused notes to keep."
    )

    @field_validator("channels")
    @classmethod
    def _distinct(cls, channels: list[str]) -> list[str]:
        if len(set(channels)) != len(channels):
            raise ValueError("channels must not repeat")
        return channels

    @field_validator("weights")
    @classmethod
    def _one_per_channel(
        cls, weights: list[float] | None, info: ValidationInfo
    ) -> list[float] | None:
        channels = info.data.get("channels")
        if weights is not None and channels is not None and len(weights) != len(channels):
            raise ValueError(
                f"give one weight per channel: {len(channels)} channels, {len(weights)} weights"
            )
        return weights

    @field_validator("settings")
    @classmethod
    def _settings_of_channels(
        cls, settings: dict[str, dict[str, Any]], info: ValidationInfo
    ) -> dict[str, dict[str, Any]]:
        channels = info.data.get("channels")
        if channels is None:
            return settings
        for name, values in settings.items():
            if name not in channels:
                raise ValueError(
                    f"settings for '{name}', which is not a channel (channels: "
                    f"{', '.join(channels)})"
                )
            for key in ("type", "k"):
                if key in values:
                    hint = "candidates sets every channel's k" if key == "k" else "the key names it"
                    raise ValueError(f"settings.{name} cannot set {key}: {hint}")
        return settings


def _channel_config(
    registry: TypeLookup, name: str, candidates: int, settings: dict[str, Any]
) -> StageConfig:
    """Return channel ``name``'s config: its settings, and ``k = candidates``.

    Raises:
        ValidationError: if the settings do not fit the channel's config.
    """
    model = registry.get("retriever", name).cls.config_model
    values = {**settings, "k": candidates} if "k" in model.model_fields else dict(settings)
    return model.model_validate(values)


def _sources(registry: TypeLookup) -> list[str]:
    """Return the retriever types that can serve as channels."""
    return [e.name for e in registry.entries("retriever") if e.cls.source and e.name != "hybrid"]


class HybridRetriever(Retriever):
    """Run every channel, fuse their rankings.

    Args:
        config: the hybrid's settings.
        channels: one built retriever per name in ``config.channels``, in order
            (:meth:`build` makes them; the pipeline calls it).
    """

    config_model: ClassVar[type[HybridConfig]] = HybridConfig
    config: HybridConfig

    def __init__(self, config: StageConfig, channels: Sequence[Retriever] = ()) -> None:
        super().__init__(config)
        self._channels = list(channels)

    @property
    def time_dependent(self) -> bool:
        return any(channel.time_dependent for channel in self._channels)

    @classmethod
    def build(cls, config: StageConfig, registry: TypeLookup) -> HybridRetriever:
        """Build the hybrid and its channel retrievers (each with ``k = candidates``).

        Channel names that are not source retrievers are left out here; :meth:`check`
        reports them, with the allowed names, when the pipeline is built.
        """
        assert isinstance(config, HybridConfig)
        sources = _sources(registry)
        channels = []
        for name in config.channels:
            if name in sources:
                channel_cls = registry.get("retriever", name).cls
                try:
                    channel_config = _channel_config(
                        registry, name, config.candidates, config.settings.get(name, {})
                    )
                except ValidationError:
                    continue  # check() reports it, located
                channel = channel_cls.build(channel_config, registry)
                assert isinstance(channel, Retriever)
                channels.append(channel)
        return cls(config, channels)

    @classmethod
    def check(cls, config: StageConfig, registry: TypeLookup) -> list[Issue]:
        assert isinstance(config, HybridConfig)
        sources = _sources(registry)
        issues = []
        for i, name in enumerate(config.channels):
            if name not in sources:
                issues.append(
                    Issue(
                        ("channels", i),
                        f"unknown channel '{name}'",
                        allowed=tuple(sources),
                        suggestion=closest(name, sources),
                    )
                )
                continue
            try:
                _channel_config(registry, name, config.candidates, config.settings.get(name, {}))
            except ValidationError as err:
                fields = [
                    f
                    for f in registry.get("retriever", name).cls.config_model.model_fields
                    if f not in ("type", "k")
                ]
                for error in err.errors(include_url=False):
                    where = tuple(error["loc"])
                    if error["type"] == "extra_forbidden" and where:
                        issues.append(
                            Issue(
                                ("settings", name, *where),
                                f"unknown field for channel {name}",
                                allowed=tuple(fields),
                                suggestion=closest(str(where[-1]), fields),
                            )
                        )
                    else:
                        issues.append(
                            Issue(("settings", name, *where), f"channel {name}: {error['msg']}")
                        )
        return issues

    @classmethod
    def capabilities_needed(
        cls, config: StageConfig, registry: TypeLookup
    ) -> tuple[type[Any], ...]:
        assert isinstance(config, HybridConfig)
        needed: list[type[Any]] = []
        for name in config.channels:
            if name in registry.names("retriever"):
                channel = registry.get("retriever", name).cls
                try:
                    own = _channel_config(
                        registry, name, config.candidates, config.settings.get(name, {})
                    )
                except ValidationError:  # check() reports it
                    own = channel.config_model()
                needed.extend(channel.capabilities_needed(own, registry))
        return tuple(dict.fromkeys(needed))

    def open(self, resources: Resources) -> None:
        super().open(resources)
        if len(self._channels) != len(self.config.channels):
            raise EvolveLabError(
                "hybrid has no channel retrievers: build it with "
                "HybridRetriever.build(config, registry), as the pipeline does"
            )
        for channel in self._channels:
            channel.open(resources)

    def close(self) -> None:
        for channel in self._channels:
            channel.close()

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        weights = self.config.weights or [1.0] * len(self._channels)
        results = [
            (name, weight, channel.retrieve(query, []))
            for name, weight, channel in zip(
                self.config.channels, weights, self._channels, strict=True
            )
        ]
        fused = fuse(results, fusion=self.config.fusion, rrf_k=self.config.rrf_k, channel="hybrid")
        return self.extend(previous, fused[: self.config.k])
