"""nn.Modules only; no file I/O."""
