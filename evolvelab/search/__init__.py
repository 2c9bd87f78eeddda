"""The meta-evolver: search pipeline YAML with Optuna and an LLM mutation operator.

``evolvelab evolve SPEC.yaml`` (see ``docs/evolve.md``) is built from these modules, each
imported on demand so that ``evolvelab --help`` never loads Optuna. Dependencies point one
way, top to bottom of this list; no module imports another in a cycle:

- :mod:`~evolvelab.search.objectives`: the one table of metrics (built-ins plus
  ``register_objectives``); :mod:`~evolvelab.search.record`: the typed trial record;
- :mod:`~evolvelab.search.dataspec`, :mod:`~evolvelab.search.spec`,
  :mod:`~evolvelab.search.specfile`: the evolve spec and reading it with positioned errors;
- :mod:`~evolvelab.search.param`, :mod:`~evolvelab.search.space`,
  :mod:`~evolvelab.search.keys`, :mod:`~evolvelab.search.derive`,
  :mod:`~evolvelab.search.auto`: the search space grown from the base pipelines, the
  registry's ``Tunable`` fields and the spec (``space: auto``: the architecture too);
- :mod:`~evolvelab.search.render`: candidates as readable YAML and back;
- :mod:`~evolvelab.search.cache`: embeddings cached across trials and processes;
- :mod:`~evolvelab.search.study`: storage, per-trial seeded samplers, budget slots;
- :mod:`~evolvelab.search.context`: a prepared search (spec, space, datasets, splits);
- :mod:`~evolvelab.search.trial`, :mod:`~evolvelab.search.trialfile`,
  :mod:`~evolvelab.search.loop`: scoring a candidate, its file, the trial loop;
- :mod:`~evolvelab.search.summary`, :mod:`~evolvelab.search.prompts`,
  :mod:`~evolvelab.search.mutate`, :mod:`~evolvelab.search.mutation`: the LLM mutation
  operator and when the loop calls it;
- :mod:`~evolvelab.search.selection`, :mod:`~evolvelab.search.outcome`,
  :mod:`~evolvelab.search.results`, :mod:`~evolvelab.search.report`,
  :mod:`~evolvelab.search.plots`, :mod:`~evolvelab.search.progress`: choosing the winner
  on held-out users and what a search shows and leaves behind;
- :mod:`~evolvelab.search.workers`, :mod:`~evolvelab.search.interrupt`,
  :mod:`~evolvelab.search.evolve`: worker processes, SIGTERM, and :func:`evolve` itself.
"""
