"""One resource per backend, and what they share; `profiles` picks them."""
