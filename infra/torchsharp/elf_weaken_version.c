/* Mark one version requirement of an ELF64 shared library as weak (VER_FLG_WEAK).
 *
 * Usage: elf_weaken_version LIB VERSION     e.g. libLibTorchSharp.so GLIBCXX_3.4.32
 *
 * The dynamic loader refuses a library whose .gnu.version_r needs a version that the providing
 * library lacks, unless that need is flagged weak. Used with `patchelf --clear-symbol-version`
 * so that no symbol still asks for the version. Edits LIB in place. Exit 0: flagged (or already
 * weak); 1: the version is not required; 2: not a usable ELF64 file. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *data;
static long size;

static int in_bounds(unsigned long off, unsigned long len) { return off <= (unsigned long)size && len <= (unsigned long)size - off; }

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s LIB VERSION\n", argv[0]); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    fseek(f, 0, SEEK_END); size = ftell(f); fseek(f, 0, SEEK_SET);
    data = malloc(size);
    if (!data || fread(data, 1, size, f) != (size_t)size) { fprintf(stderr, "%s: read failed\n", argv[1]); return 2; }
    fclose(f);

    Elf64_Ehdr *eh = (Elf64_Ehdr *)data;
    if (size < (long)sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64) {
        fprintf(stderr, "%s: not an ELF64 file\n", argv[1]); return 2;
    }
    if (!in_bounds(eh->e_shoff, (unsigned long)eh->e_shnum * sizeof(Elf64_Shdr))) { fprintf(stderr, "%s: bad section table\n", argv[1]); return 2; }
    Elf64_Shdr *sh = (Elf64_Shdr *)(data + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_GNU_verneed) continue;
        const char *strtab = (const char *)(data + sh[sh[i].sh_link].sh_offset);
        unsigned long off = sh[i].sh_offset;
        for (unsigned n = 0; n < sh[i].sh_info && in_bounds(off, sizeof(Elf64_Verneed)); n++) {
            Elf64_Verneed *vn = (Elf64_Verneed *)(data + off);
            unsigned long aux = off + vn->vn_aux;
            for (unsigned a = 0; a < vn->vn_cnt && in_bounds(aux, sizeof(Elf64_Vernaux)); a++) {
                Elf64_Vernaux *va = (Elf64_Vernaux *)(data + aux);
                if (strcmp(strtab + va->vna_name, argv[2]) == 0) {
                    if (!(va->vna_flags & VER_FLG_WEAK)) {
                        va->vna_flags |= VER_FLG_WEAK;
                        FILE *o = fopen(argv[1], "r+b");
                        if (!o || fwrite(data, 1, size, o) != (size_t)size || fclose(o) != 0) { perror(argv[1]); return 2; }
                    }
                    return 0;
                }
                aux += va->vna_next;
            }
            off += vn->vn_next;
        }
    }
    fprintf(stderr, "%s: does not require %s\n", argv[1], argv[2]);
    return 1;
}
