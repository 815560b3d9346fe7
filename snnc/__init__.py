"""snnc: a compiler toolchain for trained spiking neural networks."""
