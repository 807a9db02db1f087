/* A C host driving Grin through its C ABI: builds a scene from arrays (a ground, a
   tetrahedron, a Luneburg lens given as RON), renders it in budgeted steps, checks
   pixels, cancels a long step from another thread, and checks that null pointers,
   bad paths and destroyed handles give error codes with readable messages.
   Built and run by tests/c_host.rs; exits 0 when every check holds. */
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "grin.h"

static int failures = 0;
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, " (last error: %s)\n", grin_last_error());         \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static void *cancel_soon(void *arg) {
    usleep(100 * 1000);
    grin_cancel(*(GrinRenderer *)arg);
    return NULL;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(void) {
    GrinRenderer r = grin_renderer_create(0, GRIN_BACKEND_CPU);
    CHECK(r != 0, "create");

    /* A scene from arrays. */
    const float ground[] = {-3, 0, -3, 3, 0, -3, 3, 0, 3, -3, 0, 3};
    const uint32_t ground_tris[] = {0, 2, 1, 0, 3, 2};
    const float tetra[] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
    const uint32_t tetra_tris[] = {0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3};
    const float place[] = {1, 0, 0, 0.8f, 0, 1, 0, 0, 0, 0, 1, 0.5f}; /* 3x4, moved */
    const float red[] = {0.8f, 0.1f, 0.1f};
    const double sun[] = {0.3, -1.0, 0.4};
    const float white[] = {2, 2, 2};
    CHECK(grin_scene_begin(r) == GRIN_OK, "begin");
    CHECK(grin_scene_add_mesh(r, ground, 4, ground_tris, 2, NULL, NULL) == GRIN_OK, "ground");
    CHECK(grin_scene_add_mesh(r, tetra, 4, tetra_tris, 4, place, red) == GRIN_OK, "tetra");
    CHECK(grin_scene_add_field(r, "Luneburg(centre: (-0.8, 0.6, 0.0), radius: 0.5)") == GRIN_OK,
          "field");
    CHECK(grin_scene_add_directional_light(r, sun, white) == GRIN_OK, "light");
    CHECK(grin_scene_set_sky(r, NULL, NULL) == GRIN_OK, "sky");
    CHECK(grin_scene_commit(r) == GRIN_OK, "commit");
    const double eye[] = {0, 1.2, -4}, at[] = {0, 0.5, 0};
    CHECK(grin_set_camera(r, eye, at, 45) == GRIN_OK, "camera");
    enum { W = 64, H = 48 };
    CHECK(grin_set_image(r, W, H, 4, 7) == GRIN_OK, "image");

    /* The host loop: one budgeted step per frame until the film is complete. */
    GrinStep step = {0};
    int steps = 0;
    do {
        if (grin_render_step(r, 5, &step) != GRIN_OK) {
            CHECK(0, "step");
            break;
        }
        steps++;
    } while (!step.frame_complete && steps < 100000);
    CHECK(step.frame_complete && step.samples_per_pixel == 4, "complete after %d steps", steps);
    uint32_t w = 0, h = 0;
    CHECK(grin_film_size(r, &w, &h) == GRIN_OK && w == W && h == H, "size %ux%u", w, h);
    static uint8_t px[W * H * 4];
    CHECK(grin_film_rgba8(r, px, sizeof px) == GRIN_OK, "rgba8");
    const uint8_t *sky = &px[(1 * W + 2) * 4];            /* top left: the sky */
    const uint8_t *floor_px = &px[((H - 2) * W + 2) * 4]; /* bottom left: the ground */
    CHECK(sky[2] > sky[0] && sky[3] == 255, "sky is blue: %u %u %u", sky[0], sky[1], sky[2]);
    CHECK(floor_px[0] > 40 && abs(floor_px[0] - floor_px[2]) < 40, "ground is lit grey: %u %u %u",
          floor_px[0], floor_px[1], floor_px[2]);
    int red_pixels = 0;
    for (int i = 0; i < W * H; i++)
        if (px[4 * i] > 2 * px[4 * i + 1] + 20) red_pixels++;
    CHECK(red_pixels > 20, "the red tetrahedron shows: %d pixels", red_pixels);
    static float rgba[W * H * 4];
    CHECK(grin_film_rgba32f(r, rgba, W * H * 4) == GRIN_OK, "rgba32f");
    CHECK(rgba[3] == 1.0f, "alpha");
    static float depth[W * H];
    CHECK(grin_aov_channels(GRIN_AOV_DEPTH) == 1 && grin_aov_channels(GRIN_AOV_NORMAL) == 3,
          "channels");
    CHECK(grin_film_aov(r, GRIN_AOV_DEPTH, depth, W * H) == GRIN_OK, "depth");
    CHECK(depth[(H - 2) * W + 2] > 0 && depth[1 * W + 2] == 0, "depth: ground hit, sky none");
    CHECK(grin_film_rgba8(r, px, 16) == GRIN_ERR_ARGUMENT, "a short buffer is refused");

    /* Cancel a long step from another thread. */
    CHECK(grin_set_image(r, 320, 240, 1000, 0) == GRIN_OK, "big image");
    pthread_t t;
    pthread_create(&t, NULL, cancel_soon, &r);
    double t0 = now_ms();
    CHECK(grin_render_step(r, 60000, &step) == GRIN_OK, "long step");
    double took = now_ms() - t0;
    pthread_join(t, NULL);
    CHECK(took < 10000 && !step.frame_complete, "cancelled after %.0f ms", took);

    /* Errors: null pointers, a bad path, a destroyed handle. */
    CHECK(grin_scene_load(r, NULL) == GRIN_ERR_NULL, "null path");
    CHECK(strstr(grin_last_error(), "null") != NULL, "message: %s", grin_last_error());
    CHECK(grin_scene_load(r, "/no/such/scene.ron") == GRIN_ERR_SCENE, "bad path");
    CHECK(strstr(grin_last_error(), "/no/such/scene.ron") != NULL, "names the file");
    CHECK(grin_scene_add_field(r, "Luneburg(radius: oops)") == GRIN_ERR_SCENE, "bad field");
    CHECK(grin_film_rgba8(r, NULL, 100) == GRIN_ERR_NULL, "null buffer");
    CHECK(grin_renderer_destroy(r) == GRIN_OK, "destroy");
    CHECK(grin_render_step(r, 5, &step) == GRIN_ERR_HANDLE, "destroyed handle");
    CHECK(strstr(grin_last_error(), "destroyed") != NULL, "message: %s", grin_last_error());
    CHECK(grin_renderer_destroy(r) == GRIN_ERR_HANDLE, "destroyed twice");
    CHECK(grin_film_size(0, &w, &h) == GRIN_ERR_HANDLE, "handle 0");

    if (failures == 0) printf("capi host: all checks passed (%d steps)\n", steps);
    return failures == 0 ? 0 : 1;
}
