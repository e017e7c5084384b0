"""gdlab: the computations behind the executable book on gradient-method dynamics.

Part I (:mod:`gdlab.stepsize`): large-stepsize GD on non-homogeneous two-layer networks.
Part II (:mod:`gdlab.symmetry`): parameter symmetry and the noise equilibrium of SGD.
"""

__version__ = "0.1.0"
