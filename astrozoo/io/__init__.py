"""Reading and writing other frameworks' model files (CIANNA .dat)."""
