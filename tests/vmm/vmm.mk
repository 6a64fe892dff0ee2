# tests/vmm: vmwait-vmm, a minimal KVM VMM whose waits have known reasons,
# and its guest, assembled here (32-bit, flat) and embedded in the binary.
VMM_DIR     := $(B)/tests/vmm
VMM_BIN     := $(VMM_DIR)/vmwait-vmm
VMM_OBJCOPY ?= objcopy
VMM_LD      ?= ld
VMM_SRCS    := $(wildcard tests/vmm/*.c)
VMM_OBJS    := $(VMM_SRCS:tests/vmm/%.c=$(VMM_DIR)/%.o) $(VMM_DIR)/blob.o
TEST_BINS   += $(VMM_BIN)

$(VMM_DIR)/guest.o: tests/vmm/guest.S tests/vmm/layout.h
	@mkdir -p $(dir $@)
	$(CC) -m32 -c -o $@ $<

$(VMM_DIR)/guest.bin: $(VMM_DIR)/guest.o
	$(VMM_LD) -m elf_i386 -nostdlib --build-id=none -Ttext=0x8000 -e start -o $(VMM_DIR)/guest.elf $<
	$(VMM_OBJCOPY) -O binary -j .text $(VMM_DIR)/guest.elf $@

$(VMM_DIR)/blob.o: tests/vmm/blob.S $(VMM_DIR)/guest.bin
	$(CC) -c -DGUEST_BIN='"$(VMM_DIR)/guest.bin"' -o $@ $<

$(VMM_DIR)/%.o: tests/vmm/%.c tests/vmm/vmm.h tests/vmm/layout.h
	@mkdir -p $(dir $@)
	$(CC) -D_GNU_SOURCE $(CFLAGS) -c -o $@ $<

$(VMM_BIN): $(VMM_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ -lpthread
