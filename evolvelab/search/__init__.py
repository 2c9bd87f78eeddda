"""The meta-evolver: search pipeline YAML with Optuna and an LLM mutation operator.

``evolvelab evolve SPEC.yaml`` (see ``docs/evolve.md``) is built from these modules, each
imported on demand so that ``evolvelab --help`` never loads Optuna:

- :mod:`~evolvelab.search.spec`, :mod:`~evolvelab.search.specfile`: the evolve spec model
  and reading it from YAML with positioned errors;
- :mod:`~evolvelab.search.param`, :mod:`~evolvelab.search.space`,
  :mod:`~evolvelab.search.keys`, :mod:`~evolvelab.search.derive`: the search space grown
  from the base pipelines, the registry's ``Tunable`` fields and the spec;
- :mod:`~evolvelab.search.render`: candidates as readable YAML and back;
- :mod:`~evolvelab.search.cache`: embeddings cached across trials and processes;
- :mod:`~evolvelab.search.context`, :mod:`~evolvelab.search.trial`,
  :mod:`~evolvelab.search.study`, :mod:`~evolvelab.search.evolve`,
  :mod:`~evolvelab.search.workers`: the loop, the study's budget slots, worker processes;
- :mod:`~evolvelab.search.summary`, :mod:`~evolvelab.search.mutate`,
  :mod:`~evolvelab.search.prompts`, :mod:`~evolvelab.search.mutation`: the LLM mutation
  operator and when the loop calls it;
- :mod:`~evolvelab.search.progress`, :mod:`~evolvelab.search.results`,
  :mod:`~evolvelab.search.report`, :mod:`~evolvelab.search.plots`: what a search shows and
  leaves behind.
"""
