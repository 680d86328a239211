package libtf

import (
	"debug/elf"
	"debug/macho"
	"fmt"
	"strings"
)

// exported lists the symbols a shared library defines for others: ELF
// dynamic symbols with a section (version suffixes dropped), or Mach-O
// external defined symbols without their leading underscore.
func exported(path string) ([]string, error) {
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		syms, err := f.DynamicSymbols()
		if err != nil {
			return nil, err
		}
		var out []string
		for _, s := range syms {
			if s.Section != elf.SHN_UNDEF {
				out = append(out, s.Name)
			}
		}
		return out, nil
	}
	f, err := macho.Open(path)
	if err != nil {
		return nil, fmt.Errorf("neither ELF nor Mach-O")
	}
	defer f.Close()
	if f.Symtab == nil {
		return nil, fmt.Errorf("no symbol table")
	}
	var out []string
	for _, s := range f.Symtab.Syms {
		const nExt, nTypeMask, nSect = 0x01, 0x0e, 0x0e
		if s.Type&nExt != 0 && s.Type&nTypeMask == nSect {
			out = append(out, strings.TrimPrefix(s.Name, "_"))
		}
	}
	return out, nil
}

// ImportedCAPI lists the TensorFlow C API symbols (TF_…, TFE_…) an ELF
// binary built against libtensorflow imports.
func ImportedCAPI(binary string) ([]string, error) {
	f, err := elf.Open(binary)
	if err != nil {
		return nil, fmt.Errorf("libtf: %w", err)
	}
	defer f.Close()
	syms, err := f.ImportedSymbols()
	if err != nil {
		return nil, fmt.Errorf("libtf: %s: %w", binary, err)
	}
	var out []string
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "TF_") || strings.HasPrefix(s.Name, "TFE_") {
			out = append(out, s.Name)
		}
	}
	return out, nil
}
