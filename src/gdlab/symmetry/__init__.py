"""Part II: parameter symmetry and the noise equilibrium of SGD (Ziyin, Wang, Li, Wu).

Modules (one idea each):

* ``tasks``: the linear-Gaussian teacher (fresh samples per step) and finite data sets (digits).
* ``linear``, ``scale_invariant``, ``autoencoder``: models with exponential symmetries.
* ``sgd``: minibatch SGD and full-batch GD with weight decay, vectorised over K runs.
* ``charges``: Noether charges ``theta^T A theta`` and their matrix versions.
* ``identities``: the exact one-step identities (D0)-(D6) with float64 rounding bounds.
* ``moments``: exact Gaussian gradient-noise moments of linear chains.
* ``orbit``: Lemma B.1 and Theorems 4.3 / D.1 on one symmetry orbit.
* ``equilibrium``: Theorem 5.2 (adopted, main-text and appendix forms) and its solution.
* ``deep``: Theorem 5.4, corrected and printed, and Eq. (122).
* ``sharpness``: Proposition 5.3, Eq. (15), initialisation scales, top Hessian eigenvalue.
* ``stats``: stationary time averages, extrapolation to eta -> 0, statistical thresholds.
* ``verdict``: the verdict tables of the chapters.
* ``exp_noether``, ``exp_equilibrium``, ``exp_deep``: the experiments of the three chapters.
"""
