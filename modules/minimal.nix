# An empty configuration: what `strata options` evaluates when no file is given.
{ }
