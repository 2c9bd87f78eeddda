"""``type: case_policy`` — AgentFly's learned case selection: kernel Q-values over past states.

Memento / AgentFly (Zhou et al., 2025, "AgentFly: Fine-tuning LLM Agents without
Fine-tuning LLMs") keeps a case bank of ``(state, plan, reward)`` cases and selects the
cases to show the planner with a policy learned online from task rewards, without
touching the LLM. Its non-parametric form scores a case ``c`` for a new state ``s`` by a
kernel-weighted average of the rewards seen when ``c`` was supplied before:

    Q(s, c) = (w0 * q0 + sum_j K(s, s_j) * r_j) / (w0 + sum_j K(s, s_j))
    K(s, s') = exp(-(1 - cos(s, s')) / bandwidth)

where ``(s_j, r_j)`` are the states ``c`` was supplied for and the rewards that followed
(recorded by the ``case_q`` manager as ``q`` links from the case to the state's own
case note), and ``q0`` a prior worth ``w0`` samples: the case's own recorded reward
(Memento keeps ``r`` in the case) unless ``prior_source: constant``. Cases are drawn from the ``pool``
most similar cases and scored ``(1 - weight) * similarity + weight * Q``; **soft
selection** samples the order from ``softmax(score / temperature)`` (Gumbel top-k,
seeded by ``seed`` and the query text, so a replay is reproducible), and
``temperature: 0`` is greedy. ``weight: 0`` is plain similarity retrieval over the same
case bank — the baseline the policy is compared with.

Each hit's ``explain`` holds ``similarity``, ``q`` and ``support`` (the summed kernel
weight behind Q: 0 means the prior alone).
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from evolvelab.config import RetrieverConfig, Tunable
from evolvelab.stages import Retriever, VectorSearch
from evolvelab.types import Hit, Note, Query

__all__ = ["Q_LINK", "CasePolicyConfig", "CasePolicyRetriever", "kernel_q", "q_samples"]

Q_LINK = "q"
"""Link kind of a recorded (state, reward) sample: case -> the state's case note, weight = reward."""


class CasePolicyConfig(RetrieverConfig):
    """Select cases by similarity and a kernel Q-value learned from outcome rewards.

    Example:
        ```yaml
        retrieve:
          - {type: case_policy, k: 10, pool: 30, weight: 0.5, temperature: 0.01}
        ```
    """

    type: Literal["case_policy"] = "case_policy"
    k: Annotated[int, Tunable(3, 30)] = Field(10, ge=1, le=200, description="Cases returned.")
    pool: Annotated[int, Tunable(10, 100, log=True)] = Field(
        30, ge=1, le=1000, description="Most similar cases the policy chooses from."
    )
    kind: str = Field("experience", min_length=1, description="Note kind of the cases.")
    weight: Annotated[float, Tunable(0.0, 1.0)] = Field(
        0.7, ge=0.0, le=1.0, description="Share of the score given to Q (0: similarity alone)."
    )
    bandwidth: Annotated[float, Tunable(0.02, 0.5, log=True)] = Field(
        0.1, gt=0.0, description="Kernel bandwidth over cosine distance between states."
    )
    case_bandwidth: float | None = Field(
        None,
        gt=0.0,
        description="Kernel bandwidth over cosine distance between cases: samples recorded on "
        "similar cases in the pool count too; null: a case learns from its own samples only.",
    )
    prior: float = Field(0.5, ge=0.0, le=1.0, description="Q of a case with no samples (q0).")
    prior_source: Literal["reward", "constant"] = Field(
        "reward",
        description="q0 of a case: its own recorded reward (metadata.reward, the case's r; "
        "`prior` when it has none) or the constant `prior`.",
    )
    prior_weight: Annotated[float, Tunable(0.1, 5.0, log=True)] = Field(
        1.0, gt=0.0, description="How many samples the prior is worth (w0)."
    )
    temperature: Annotated[float, Tunable(0.0, 0.1)] = Field(
        0.0, ge=0.0, description="Soft selection temperature (explores); 0 is greedy."
    )
    seed: int = Field(0, description="Seed of the soft selection (mixed with the query text).")
    channel: Literal["case_policy"] = Field("case_policy", description="Channel name of the hits.")


def _cosine(a: list[float] | None, b: list[float] | None) -> float:
    if not a or not b:
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def kernel_q(state: list[float], samples: list[tuple[list[float] | None, float, float]], *,
             bandwidth: float, prior: float, prior_weight: float) -> tuple[float, float]:  # fmt: skip
    """Return ``(Q, support)`` for a state given ``(state vector, reward, case weight)`` samples.

    A sample's kernel weight is its case weight (1 for the case's own samples) times
    ``exp(-(1 - cos(state, sample state)) / bandwidth)``.

    Example:
        >>> kernel_q([1.0, 0.0], [([1.0, 0.0], 1.0, 1.0)], bandwidth=0.1, prior=0.5, prior_weight=1.0)
        (0.75, 1.0)
    """
    support = total = 0.0
    for vector, reward, near in samples:
        weight = near * math.exp(-(1.0 - _cosine(state, vector)) / bandwidth)
        support += weight
        total += weight * reward
    return (prior_weight * prior + total) / (prior_weight + support), support


class CasePolicyRetriever(Retriever):
    """AgentFly's non-parametric case-selection policy over the case bank."""

    config_model: ClassVar[type[CasePolicyConfig]] = CasePolicyConfig
    config: CasePolicyConfig
    requires = (VectorSearch,)

    def _states(self, pool: list[Hit], query: Query) -> dict[str, list[float] | None]:
        wanted = list(dict.fromkeys(
            link.target for hit in pool for link in hit.note.links if link.kind == Q_LINK))  # fmt: skip
        if not wanted:
            return {}
        owner = query.scope.model_copy(update={"session_id": None})
        return {n.id: n.embedding for n in self.resources.store.get(wanted, owner)}

    def _order(self, scored: list[tuple[float, Hit]], query: Query) -> list[tuple[float, Hit]]:
        if self.config.temperature <= 0:
            return sorted(scored, key=lambda pair: (-pair[0], pair[1].note.id))
        digest = hashlib.blake2b(f"{self.config.seed}\x1f{query.text}".encode(), digest_size=8)
        rng = random.Random(int.from_bytes(digest.digest(), "big"))
        keyed = []
        for score, hit in sorted(scored, key=lambda pair: pair[1].note.id):
            gumbel = -math.log(-math.log(max(rng.random(), 1e-12)))
            keyed.append((score / self.config.temperature + gumbel, score, hit))
        keyed.sort(key=lambda item: -item[0])
        return [(score, hit) for _, score, hit in keyed]

    def _prior(self, case: Note) -> float:
        reward = case.metadata.get("reward")
        if self.config.prior_source == "reward" and isinstance(reward, int | float):
            return float(reward)
        return self.config.prior

    def retrieve(self, query: Query, previous: list[Hit]) -> list[Hit]:
        store = self.resources.find(VectorSearch)
        vector = [float(x) for x in self.resources.embedder.embed([query.text])[0]]
        where = query.where.model_copy(update={"kind": [self.config.kind]})
        pool = store.search_vectors(vector, self.config.pool, query.scope, where)
        states = self._states(pool, query)
        own = {hit.note.id: [(states.get(link.target), link.weight) for link in hit.note.links
                             if link.kind == Q_LINK and link.target in states]
               for hit in pool}  # fmt: skip
        scored: list[tuple[float, Hit]] = []
        for hit in pool:
            samples = [(s, r, 1.0) for s, r in own[hit.note.id]]
            if self.config.case_bandwidth is not None:
                for other in pool:
                    if other.note.id != hit.note.id and own[other.note.id]:
                        near = math.exp(-(1.0 - _cosine(hit.note.embedding, other.note.embedding))
                                        / self.config.case_bandwidth)  # fmt: skip
                        samples.extend((s, r, near) for s, r in own[other.note.id])
            q, support = kernel_q(vector, samples, bandwidth=self.config.bandwidth,
                                  prior=self._prior(hit.note), prior_weight=self.config.prior_weight)  # fmt: skip
            score = (1.0 - self.config.weight) * hit.score + self.config.weight * q
            explain = {"similarity": round(hit.score, 6), "q": round(q, 6), "support": round(support, 6)}
            scored.append((score, hit.model_copy(update={"score": score, "channel": self.config.channel,
                                                         "explain": explain})))  # fmt: skip
        chosen = [hit for _, hit in self._order(scored, query)[: self.config.k]]
        return self.extend(previous, chosen)


def q_samples(note: Note) -> list[tuple[str, float]]:
    """Return a case's recorded ``(state note id, reward)`` samples, oldest first."""
    return [(link.target, link.weight) for link in note.links if link.kind == Q_LINK]
