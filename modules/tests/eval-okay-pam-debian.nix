# /etc/pam.d as strata renders it by default: Debian 12's files (libpam-runtime's common
# files, login's, su's, sudo's, passwd's, chsh's, chfn's and other's) line for line, less
# the modules of packages strata does not install (pam_cap, pam_systemd, pam_selinux); then
# NixOS's options on a service of a configuration's own, and /etc/nsswitch.conf.
let
  evalConfig = configuration: import ../eval-config.nix { inherit configuration; modulesDir = ../.; };
  etc = (evalConfig { }).config.environment.etc;
  own = (evalConfig {
    security.pam.services.own = { rootOK = true; requireWheel = true; nodelay = true; setEnvironment = false; limits = [ { domain = "@wheel"; item = "nofile"; value = 4096; } ]; };
    security.pam.services.login.showMotd = false;
    security.pam.services.plain.text = "auth required pam_deny.so\n";
    security.pam.loginLimits = [ { domain = "*"; type = "soft"; item = "core"; value = "0"; } ];
    system.nssDatabases.hosts = [ "mymachines" ];
  }).config.environment.etc;
in
builtins.listToAttrs (map (n: { name = n; value = etc."pam.d/${n}".text; })
  [ "common-auth" "common-account" "common-password" "common-session" "common-session-noninteractive"
    "login" "su" "sudo" "passwd" "chsh" "chfn" "other" ])
// {
  own = own."pam.d/own".text;
  ownLimits = own."security/limits.own.conf".text;
  loginLimits = own."security/limits.d/strata.conf".text;
  loginWithoutMotd = own."pam.d/login".text;
  plain = own."pam.d/plain".text;
  nsswitch = etc."nsswitch.conf".text;
  nsswitchWithMymachines = own."nsswitch.conf".text;
}
