# Login shells: NixOS's `programs.{bash,zsh,fish}.enable`, `users.defaultUserShell`,
# `environment.shells` and `/etc/shells`.
#
# A user's `shell` may be a package (`pkgs.zsh`) or a path. A package is installed system-wide
# and stands for its program's path on the machine (shell-path.nix).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.programs;

  shellOf = import ./shell-path.nix { inherit lib; };
  shellType = types.either types.package types.passwdPath;
  pkg = name: lib.optional (pkgs ? ${name}) pkgs.${name};
in
{
  options = {
    programs.bash.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Whether bash (Debian's, which every system has: it is essential) is listed in /etc/shells as a login shell.";
    };
    programs.zsh.enable = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to install zsh (Debian's `zsh' package, with its /etc/zsh files) and list it in /etc/shells.";
    };
    programs.fish.enable = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to install fish (Debian's `fish' package, with its /etc/fish files) and list it in /etc/shells.";
    };
    users.defaultUserShell = mkOption {
      type = shellType;
      default = "/run/current-system/sw/bin/sh";
      example = lib.literalExpression "pkgs.zsh";
      description = "The login shell of users that set none: a package (`pkgs.bash', `pkgs.zsh') or a path.";
    };
    environment.shells = mkOption {
      type = types.listOf shellType;
      default = [ ];
      example = lib.literalExpression "[ pkgs.zsh ]";
      description = "Shells users may log in with (/etc/shells, which chsh and some daemons read): packages or paths. The shells of enabled programs and of users are added.";
    };
  };

  config = {
    environment.systemPackages =
      lib.optionals cfg.zsh.enable (pkg "zsh")
      ++ lib.optionals cfg.fish.enable (pkg "fish");
    environment.shells =
      [ "/bin/sh" "/usr/bin/sh" ]
      ++ lib.optionals cfg.bash.enable [ "/bin/bash" "/usr/bin/bash" ]
      ++ lib.optionals cfg.zsh.enable [ "/bin/zsh" "/usr/bin/zsh" ]
      ++ lib.optionals cfg.fish.enable [ "/usr/bin/fish" ];
    environment.etc.shells.text =
      lib.concatMapStrings (s: "${s}\n") (lib.unique (map shellOf config.environment.shells));
  };
}
