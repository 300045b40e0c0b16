# The README's Python example.
# tested by tests/test_readme_example.py
import perceptogram as pg

root = "perceptogram-demo/data/things"                       # or your THINGS-EEG2 folder
train, test = pg.load_subject(root, subject=1)               # EEGEpochs, memory-mapped float32
X_train, X_test = pg.prepare(train, test, tmin=0.0, tmax=0.8)  # z-scored with training stats
images = pg.load_image_metadata(root)
space = pg.get_latent_space("effnet")                        # or "pca", "attributes", "unclip"
if hasattr(space, "fit"):                                    # pixel PCA/ICA: fit on train images
    space.fit(images.image_paths("train"))
Y_train = pg.encode_cached(space, images.image_paths("train"), "latent-cache")
Y_test = pg.encode_cached(space, images.image_paths("test"), "latent-cache")

decoder = pg.RidgeCV(cv="group").fit(X_train.X, Y_train, groups=X_train.concepts)
Y_pred = decoder.predict(X_test.X)                           # alpha per target, train data only
centre = Y_train.mean(0)
print(pg.retrieval_accuracy(Y_pred - centre, Y_test - centre, k=5).mean())  # chance: 5 / n_test
