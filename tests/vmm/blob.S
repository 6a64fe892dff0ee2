/* blob.S: embeds the assembled guest (guest.bin, path in GUEST_BIN) in vmwait-vmm. */
	.section .rodata
	.globl	guest_blob, guest_blob_end
	.balign	16
guest_blob:
	.incbin	GUEST_BIN
guest_blob_end:
	.section .note.GNU-stack, "", @progbits
