# Several errors; Nix reports only the first.
{ a = ; b = ; c = }
