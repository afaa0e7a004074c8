/* Optional C accelerator of mod_pywebsocket: frame masking (RFC 6455 §5.3).
 *
 * mod_pywebsocket/_masking.py imports this module when it was built (setup.py
 * builds it when a C compiler is present; `make speedups` builds it in a
 * checkout) and falls back to its pure-Python masking otherwise. Both give the
 * same bytes; test/test_speedups.py checks that on random data.
 *
 * RFC 6455 §5.3: "Octet i of the transformed data ("transformed-octet-i") is
 * the XOR of octet i of the original data ("original-octet-i") with octet at
 * index i modulo 4 of the masking key ("masking-key-octet-j")".
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Above this size the XOR runs without the GIL, so that other connections'
 * threads run meanwhile (1 MiB takes ~100 us; releasing the GIL costs ~1 us). */
#define RELEASE_GIL_FROM 65536

static void
xor_with_key(const unsigned char *src, unsigned char *dst, Py_ssize_t n, const unsigned char key[4])
{
    /* The key repeated over a 64-bit word. Both the word and the data are
     * loaded and stored with memcpy, byte for byte in memory order, so the
     * result does not depend on endianness or alignment (the compiler turns
     * the memcpy calls into plain, possibly vectorized, loads and stores). */
    unsigned char key8[8];
    uint64_t key_word, word;
    Py_ssize_t i = 0;

    memcpy(key8, key, 4);
    memcpy(key8 + 4, key, 4);
    memcpy(&key_word, key8, 8);
    for (; i + 8 <= n; i += 8) {
        memcpy(&word, src + i, 8);
        word ^= key_word;
        memcpy(dst + i, &word, 8);
    }
    for (; i < n; i++) {
        dst[i] = src[i] ^ key[i & 3];
    }
}

PyDoc_STRVAR(mask_doc,
"mask(data, key, /)\n"
"--\n"
"\n"
"Return data XORed with the 4-byte key repeated (RFC 6455 section 5.3).\n"
"\n"
"data is any bytes-like object (bytes, bytearray, memoryview, contiguous\n"
"or not); key[0] applies to data[0]. Raises ValueError unless key is\n"
"exactly 4 bytes.");

static PyObject *
speedups_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, key;
    PyObject *copy = NULL, *result = NULL;
    (void)module;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "mask() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &key, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (key.len != 4) {
        PyErr_Format(PyExc_ValueError, "masking key must be 4 bytes, not %zd", key.len);
        goto release_key;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        /* A non-contiguous buffer (a strided memoryview): take a contiguous copy. */
        if (!PyErr_ExceptionMatches(PyExc_BufferError)) {
            goto release_key;
        }
        PyErr_Clear();
        copy = PyBytes_FromObject(args[0]);
        if (copy == NULL) {
            goto release_key;
        }
        if (PyObject_GetBuffer(copy, &data, PyBUF_SIMPLE) < 0) {
            goto release_copy;
        }
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL) {
        const unsigned char *src = (const unsigned char *)data.buf;
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(result);
        if (data.len >= RELEASE_GIL_FROM) {
            Py_BEGIN_ALLOW_THREADS
            xor_with_key(src, dst, data.len, (const unsigned char *)key.buf);
            Py_END_ALLOW_THREADS
        }
        else {
            xor_with_key(src, dst, data.len, (const unsigned char *)key.buf);
        }
    }
    PyBuffer_Release(&data);
release_copy:
    Py_XDECREF(copy);
release_key:
    PyBuffer_Release(&key);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"mask", (PyCFunction)(void (*)(void))speedups_mask, METH_FASTCALL, mask_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef_Slot speedups_slots[] = {
#ifdef Py_mod_multiple_interpreters
    /* No module state: safe in every sub-interpreter (mod_python runs one per
     * PythonInterpreter). */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "mod_pywebsocket._speedups",
    "Optional C accelerator of mod_pywebsocket: frame masking (see _masking.py).",
    0,
    speedups_methods,
    speedups_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
