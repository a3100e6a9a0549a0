# services.openssh: /etc/ssh/sshd_config as NixOS renders it (the settings by keyword, then
# the listening, sftp, authorized-keys and host-key lines, then extraConfig), for the
# defaults and for a typical server; the users' authorized_keys.d files; the service, its
# user and Debian's PAM file for sshd; and nothing of it when the server is off.
let
  evalConfig = configuration: import ../eval-config.nix { inherit configuration; modulesDir = ../.; };
  keys = {
    alice = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID+8KVG+rD1X3f7mfOO7TjZHw/EfgcWHnSxQC2eMYdiu alice@laptop";
    bob = "from=\"10.0.0.?,192.168.1.*\",no-pty,command=\"echo \\\"hi\\\"\" ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC6Uwj1VmI63DAW6GTpEqxI1Idoj0cOc0eJa9197bOT9RrYk+AkbpWVD1OK/uJxpNynzXEvt2UKkss5j7KQNvkB8CEKEV3C63uFzlAVrG++VcIvBBsOzpM3zB2OzJb/3BNyu1PrXpvNDyA2c+BDh4k9SIpt1Ds5sMEjYnT72rtPrG3L5QaUxxYd8Eld//iA50+b9q7lidESI4QNc3qnHHBXMrEK8BTkzEneKCxBBq7zIGoE6sqWnHDhBro1LyduENxWwrUpi1tUS7EtoK+2E7t6JUiu7TJI4hcFknZu0vYYCNVk4fZbjEcEO/KtM/2ALDfTBWAr9D7aR7tyNKkJj9m5 bob@host";
    # An ECDSA key with an empty comment (ssh-keygen -C "" leaves the blank).
    ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBD/kjIMGJxj24LCxAJvYEp8bcla9dQSTxHPOpDvNsvqn3MbkTVtK/kJGFtGHcQ4MPrKFR2Fu64S+rXEz01PL6kg= ";
  };
  defaults = evalConfig { services.openssh.enable = true; };
  typical = evalConfig {
    services.openssh = {
      enable = true;
      ports = [ 22 2222 ];
      listenAddresses = [ { addr = "0.0.0.0"; } { addr = "[::1]"; port = 2200; } ];
      settings = {
        PasswordAuthentication = false;
        KbdInteractiveAuthentication = false;
        PermitRootLogin = "no";
        AllowUsers = [ "alice" "bob" ];
        ClientAliveInterval = 60;
        AllowTcpForwarding = false;
        LogLevel = "VERBOSE";
        Macs = null;
      };
      sftpFlags = [ "-f" "AUTHPRIV" ];
      banner = "Authorised use only.\n";
      extraConfig = ''
        Match User bob
          X11Forwarding yes
      '';
    };
    users.users.alice = { isNormalUser = true; openssh.authorizedKeys.keys = [ keys.alice keys.ecdsa ]; };
    users.users.bob = { isNormalUser = true; openssh.authorizedKeys.keys = [ keys.bob ]; };
    # A key file, added as it is (its comment and blank line too).
    users.users.carol = { isNormalUser = true; openssh.authorizedKeys = { keys = [ keys.alice ]; keyFiles = [ ./openssh-keys.pub ]; }; };
    users.users.dave.isNormalUser = true;
  };
  etc = typical.config.environment.etc;
  sshd = typical.config.systemd.services.sshd;
  # Which keys the evaluation refuses (an assertion naming the option and the key).
  refused = k: builtins.any (m: builtins.match "users.users.x.openssh.authorizedKeys.keys: .*" m != null)
    (evalConfig { users.users.x = { isNormalUser = true; openssh.authorizedKeys.keys = [ k ]; }; }).failedAssertions;
  candidates = {
    ed25519 = keys.alice;
    withNewline = keys.alice + "\n";
    withOptions = keys.bob;
    ecdsaEmptyComment = keys.ecdsa;
    securityKey = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fAAAABHNzaDo= yubikey";
    noKeyData = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 alice@laptop";
    typeOfAnotherKey = "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAID+8KVG+rD1X3f7mfOO7TjZHw/EfgcWHnSxQC2eMYdiu alice@laptop";
    unknownType = "ssh-foo AAAAC3NzaC1lZDI1NTE5AAAAID+8KVG+rD1X3f7mfOO7TjZHw/EfgcWHnSxQC2eMYdiu";
    notBase64 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID+8KVG+rD1X3f7mf!O7TjZHw/EfgcWHnSxQC2eMYdiu";
    unclosedQuote = "command=\"echo hi ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID+8KVG+rD1X3f7mfOO7TjZHw/EfgcWHnSxQC2eMYdiu";
    comment = "# alice's key";
    empty = "";
  };
  off = evalConfig { users.users.alice = { isNormalUser = true; openssh.authorizedKeys.keys = [ keys.alice ]; }; };
in
{
  defaultConfig = defaults.config.environment.etc."ssh/sshd_config".text;
  defaultPam = defaults.config.environment.etc."pam.d/sshd".text;
  typicalConfig = etc."ssh/sshd_config".text;
  banner = etc."ssh/banner".text;
  # Without password authentication, PAM's auth stack has no pam_unix (as NixOS's unixAuth).
  typicalPam = etc."pam.d/sshd".text;
  authorizedKeys = builtins.mapAttrs (n: e: { inherit (e) mode text; })
    (removeAttrs etc (builtins.filter (n: builtins.match "ssh/authorized_keys.d/.*" n == null) (builtins.attrNames etc)));
  service = {
    inherit (sshd) wantedBy after preStart;
    inherit (sshd.serviceConfig) ExecStart Type Restart;
    reloadsOnConfig = sshd.reloadTriggers == [ etc."ssh/sshd_config".text ];
  };
  user = { inherit (typical.config.users.users.sshd) isSystemUser group home shell description; };
  firewall = typical.config.networking.firewall.allowedTCPPorts;
  refusedKeys = builtins.mapAttrs (n: refused) candidates;
  off = builtins.filter (n: builtins.match "ssh/.*|pam.d/sshd" n != null) (builtins.attrNames off.config.environment.etc);
  offServices = builtins.attrNames off.config.systemd.services;
}
