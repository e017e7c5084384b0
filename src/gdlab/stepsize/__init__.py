"""Part I: large-stepsize GD on non-homogeneous two-layer networks (Cai, Wu, Mei, Lindsey,
Bartlett).

Modules: ``activations`` (phi and its Assumption 2 constants), ``network`` (eq. 2),
``gd`` (the vectorized full-batch engine), ``trajectory`` (the record), ``margins``,
``theory`` (every bound, named after its result) and ``certify`` (verdicts per claim).
"""
