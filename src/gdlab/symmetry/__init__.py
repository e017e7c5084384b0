"""Part II: parameter symmetry and the noise equilibrium of SGD (Ziyin, Wang, Li, Wu).

Modules (one idea each); the chapters' experiments are the studies ``gdlab.studies.noether``,
``gdlab.studies.noise_equilibrium`` and ``gdlab.studies.deep_linear``:

* ``tasks``: the linear-Gaussian teacher (fresh samples per step) and finite data sets (digits).
* ``linear``, ``scale_invariant``, ``autoencoder``: models with exponential symmetries.
* ``normalized_nets``: Net-A and Net-B of Figure 7, two-layer tanh nets with Frobenius-normalised
  layers (a scale-invariant loss).
* ``sgd``: the one SGD/GD update and training loop, vectorised over K runs, with observer hooks.
* ``charges``: Noether charges ``theta^T A theta`` and their matrix versions.
* ``identities``: the exact one-step identities (D0)-(D6) with float64 rounding bounds.
* ``moments``: exact Gaussian gradient-noise moments of linear chains.
* ``orbit``: Lemma B.1 and Theorems 4.3 / D.1 on one symmetry orbit.
* ``equilibrium``: Theorem 5.2 (adopted, main-text and appendix forms), its solution, T1 and T2'.
* ``deep``: Theorem 5.4, corrected and printed, and Eq. (122).
* ``approximate``: T6, the scalar net with an anchor that breaks its symmetry (§5.4).
* ``sharpness``: Proposition 5.3, Eq. (15), initialisation scales, top Hessian eigenvalue.
* ``checks``: input validation shared by these modules.
"""
