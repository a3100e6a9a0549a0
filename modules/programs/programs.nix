# NixOS's `programs.*`: programs that NixOS installs and configures system-wide.
{ lib, ... }:
let
  inherit (lib) mkUnsupportedOption types;
  flag = what: default: extra: mkUnsupportedOption ({
    type = types.bool;
    inherit default;
    description = "Whether to enable ${what}.";
  } // extra);
  noShells = { yet = true; reason = "strata does not install bash-completion by itself yet; add pkgs.bash-completion to environment.systemPackages."; };
in
{
  options.programs = {
    firefox.enable = flag "Firefox" false {
      reason = "strata does not install programs through programs.*; add Debian's firefox-esr package to environment.systemPackages.";
    };
    mtr.enable = flag "mtr, with the privileges it needs" false {
      yet = true;
      reason = "strata makes no setuid wrappers.";
    };
    gnupg.agent.enable = flag "the GnuPG agent in users' sessions" false {
      reason = "strata does not start programs in users' sessions.";
    };
    gnupg.agent.enableSSHSupport = flag "the GnuPG agent as an SSH agent" false {
      reason = "strata does not start programs in users' sessions.";
    };
    bash.completion.enable = flag "completion in interactive bash shells" true noShells;
  };
}
