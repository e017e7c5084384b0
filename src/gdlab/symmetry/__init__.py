"""Part II: parameter symmetry and the noise equilibrium of SGD (Ziyin, Wang, Li, Wu)."""
