"""dltheory: the library behind an executable book of deep-learning theory.

One module per idea. The core (``runtime``, ``data``, ``augment``, ``models``,
``losses``, ``train``, ``probes``, ``plots``, ``widgets``) is shared by every
chapter, and ``student`` strips a notebook's solutions for teachers; topic modules
(``splines``, and one per later chapter) hold what a chapter teaches. Import a
module and call into it: ``from dltheory import losses`` then
``losses.vicreg(z_a, z_b)``. Importing does no work: no seeding, no rcParams, no
downloads.
"""

__version__ = "0.1.0"
