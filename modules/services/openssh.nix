# NixOS's SSH server. strata does not run one yet (users' authorized keys are written,
# though: users.users.<name>.openssh.authorizedKeys.keys).
{ lib, ... }:
let
  inherit (lib) mkUnsupportedOption types;
  noSshd = "strata does not run an SSH server.";
in
{
  options.services.openssh = {
    enable = mkUnsupportedOption {
      type = types.bool;
      default = false;
      yet = true;
      description = "Whether to run the OpenSSH server.";
      reason = noSshd;
    };
    ports = mkUnsupportedOption {
      type = types.listOf types.port;
      default = [ 22 ];
      yet = true;
      description = "The ports the SSH server listens on.";
      reason = noSshd;
    };
    openFirewall = mkUnsupportedOption {
      type = types.bool;
      default = true;
      yet = true;
      description = "Whether the firewall lets connections in on the SSH server's ports.";
      reason = noSshd;
    };
    settings = mkUnsupportedOption {
      type = types.attrsOf types.anything;
      default = { };
      example = { PasswordAuthentication = false; PermitRootLogin = "no"; };
      yet = true;
      description = "Settings written to sshd_config.";
      reason = noSshd;
    };
  };
}
