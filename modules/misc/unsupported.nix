# The warnings for the options strata accepts without acting on them: every option declared
# with `lib.mkUnsupportedOption` (lib/unsupported.nix), wherever it is declared.
{ lib, options, ... }:
{
  config.warnings = lib.unsupportedWarnings options;
}
