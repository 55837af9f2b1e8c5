import sys
import time

import keras


class ProgressLines(keras.callbacks.Callback):
    """One plain line every `every_steps` training steps, for logs and pipes.

    Keras' progress bar redraws one line, which a pipe or a log file shows only at
    the end of an epoch; a 6-minute epoch then looks like a hang. This prints
    `epoch 1/7 step 86/430 (20%) loss 1.2345, 31 s` lines instead, flushed.

    Example:
    >>> model.fit(x, y, epochs=3, verbose=2, callbacks=[ProgressLines(steps_per_epoch=430)])
    """

    def __init__(self, steps_per_epoch: int, every_steps: int | None = None, stream=None):
        super().__init__()
        self.steps_per_epoch = int(steps_per_epoch)
        # About ten lines an epoch unless told otherwise.
        self.every_steps = int(every_steps or max(1, self.steps_per_epoch // 10))
        self.stream = stream
        self._epoch, self._started = 0, time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = batch + 1
        if step % self.every_steps and step != self.steps_per_epoch:
            return
        epochs = self.params.get("epochs", "?") if self.params else "?"
        loss = (logs or {}).get("loss")
        text = f"epoch {self._epoch + 1}/{epochs} step {step}/{self.steps_per_epoch} " \
               f"({step / self.steps_per_epoch:.0%})"
        if loss is not None:
            text += f" loss {float(loss):.4f}"
        text += f", {time.perf_counter() - self._started:.0f} s"
        print(text, file=self.stream or sys.stdout, flush=True)
