"""The page walk: a tutorial page's shell blocks run in page order, unmodified, in models of the nodes they run
on (README.md, "The page walk"). One module per job:

* ``server``: the built site on a local port, and the "internet" a test declares;
* ``session``: one persistent bash of one node, fed block by block;
* ``nodes``: the node models (login, compute, container) as bubblewrap namespaces, and each session's environment;
* ``standins``: what cannot exist here (``tests/standins/``), and the conda install folder the walk and the Slurm
  fixture share;
* ``run``: the walk itself (``Walk``, ``WalkResult``, ``WalkError``);
* ``fixture``: the ``page_walk`` and ``walk_server`` fixtures and the summary table (a pytest plugin).
"""

from walk.run import Walk, WalkError, WalkResult, comparable, page_blocks, placeholders

__all__ = ["Walk", "WalkError", "WalkResult", "comparable", "page_blocks", "placeholders"]
